import type { CommandModule } from '../command.js';
import { addCommand } from './add.js';
import { initCommand } from './init.js';

/** Every command, in the order `reg --help` lists them. One file per command. */
export const commands: CommandModule[] = [
  initCommand,
  addCommand,
];
