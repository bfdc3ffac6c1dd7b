import type { Command } from 'commander';
import { remoteAdd, remoteDefault, remoteList, remoteModify, remoteRemove } from '../../ops/remote/remote.js';
import { REMOTE_OPTIONS } from '../../ops/remote/remote-config.js';
import type { CommandModule } from '../command.js';

export const remoteCommand: CommandModule = {
  register(program, run) {
    const remote = program.command('remote').description('manage remotes (S3 buckets, S3-compatible servers, directories)');

    remote
      .command('add')
      .description('add a remote: s3://bucket/prefix or a directory path')
      .argument('<name>', 'remote name')
      .argument('<url>', 's3://bucket/prefix or a directory (relative paths are stored relative to .reg/)')
      .option('-d, --default', 'make it the default remote (core.remote)')
      .option('--local', 'write to .reg/config.local.yaml (not tracked by Git)')
      .option('-f, --force', 'replace an existing remote of that name')
      .action(async (name: string, url: string, opts: { default?: boolean; local?: boolean; force?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => remoteAdd(ctx, { name, url, default: opts.default, local: opts.local, force: opts.force }), (r, out) => {
          out.line(`added remote ${r.name} -> ${String(r.value)} (${r.file})${r.default ? ', default' : ''}`);
          if (r.note) out.note(r.note);
        }),
      );

    remote
      .command('modify')
      .description(`set or unset a remote option (${Object.keys(REMOTE_OPTIONS).join(', ')})`)
      .argument('<name>', 'remote name')
      .argument('<option>', 'option name')
      .argument('[value]', 'new value')
      .option('-u, --unset', 'remove the option')
      .option('--local', 'write to .reg/config.local.yaml (required for credentials)')
      .action(async (name: string, option: string, value: string | undefined, opts: { unset?: boolean; local?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => remoteModify(ctx, { name, option, value, unset: opts.unset, local: opts.local }), (r, out) => {
          out.line(r.value === undefined ? `unset ${r.name}.${r.option} (${r.file})` : `set ${r.name}.${r.option} = ${String(r.value)} (${r.file})`);
          if (r.note) out.note(r.note);
        }),
      );

    remote
      .command('list')
      .description('list remotes and their options (secrets are shown as ***)')
      .action(async (_opts: unknown, cmd: Command) =>
        run(cmd, (ctx) => remoteList(ctx), (r, out) => {
          if (r.remotes.length === 0) out.note('no remotes; add one: reg remote add origin s3://bucket/prefix --default');
          for (const rem of r.remotes) {
            out.line(`${rem.name}\t${rem.url}${rem.default ? '\t(default)' : ''}`);
            if (out.verbose) {
              for (const [k, v] of Object.entries(rem.options)) if (k !== 'url') out.line(`  ${k}: ${String(v)}${rem.localOptions.includes(k) ? ' (local)' : ''}`);
            }
          }
        }),
      );

    remote
      .command('remove')
      .description('remove a remote from the config (the data on it is left alone)')
      .argument('<name>', 'remote name')
      .action(async (name: string, _opts: unknown, cmd: Command) =>
        run(cmd, (ctx) => remoteRemove(ctx, { name }), (r, out) => {
          out.line(`removed remote ${r.name} (${r.files.join(', ')})${r.wasDefault ? '; there is no default remote now' : ''}`);
        }),
      );

    remote
      .command('default')
      .description('show, set or unset the default remote')
      .argument('[name]', 'remote name')
      .option('-u, --unset', 'unset the default')
      .option('--local', 'write to .reg/config.local.yaml')
      .action(async (name: string | undefined, opts: { unset?: boolean; local?: boolean }, cmd: Command) =>
        run(cmd, (ctx) => remoteDefault(ctx, { name, unset: opts.unset, local: opts.local }), (r, out) => {
          if (!r.changed) out.line(r.default ?? '(no default remote)');
          else out.line(r.default ? `default remote: ${r.default} (${r.file})` : `unset the default remote (${r.file})`);
        }),
      );
  },
};
