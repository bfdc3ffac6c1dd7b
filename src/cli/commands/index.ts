import type { CommandModule } from '../command.js';
import { addCommand } from './add.js';
import { checkoutCommand } from './checkout.js';
import { checkCommand } from './check.js';
import { newCommand } from './new.js';
import { hooksCommand } from './hooks.js';
import { hookCommand } from './hook.js';
import { syncCommand } from './sync.js';
import { fetchCommand } from './fetch.js';
import { initCommand } from './init.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { remoteCommand } from './remote.js';
import { stashCommand } from './stash.js';
import { statusCommand } from './status.js';

/** Every command, in the order `reg --help` lists them. One file per command. */
export const commands: CommandModule[] = [
  initCommand,
  addCommand,
  statusCommand,
  checkoutCommand,
  stashCommand,
  newCommand,
  checkCommand,
  hooksCommand,
  hookCommand,
  syncCommand,
  remoteCommand,
  pushCommand,
  fetchCommand,
  pullCommand,
];
