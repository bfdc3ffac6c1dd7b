import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE, LOCAL_CONFIG_FILE, readConfigTextIfAny } from '../../config.js';
import type { Context } from '../../context.js';
import { compareCodeUnits } from '../../data/order.js';
import { parsePointer } from '../../data/pointer.js';
import { isRegError, usageError } from '../../errors.js';
import ignore from 'ignore';
import { areaOf, classifyAreaChild, type Area, type AreaRules, type RegistryPolicy } from '../../policy/areas.js';
import { validateCard, validateParsedCard, type ParsedCard } from '../../policy/cards.js';
import { checkEntryName } from '../../policy/naming.js';
import { findSecrets, findSecretsByLine, isSecretHitList } from '../../policy/secrets.js';
import { REG_DIR, openRepo, type Repo } from '../../repo.js';
import { rememberedForText } from '../../user-cache.js';
import { allIndexEntries, blobSizes, gitRun, gitText, stagedPaths, ZERO_OID, type IndexEntry, type IndexSnapshot } from '../../git/read.js';
import type { CommittedPointer } from '../remote/history-data.js';

/** Index mode of a submodule: its oid is a commit, not a blob. */
const GITLINK_MODE = '160000';
import { readCardTextIfAny, scanRegistry, type RegistryScan, type ScannedEntry } from './registry-scan.js';
import { CardChecks } from './card-checks.js';

export type Severity = 'error' | 'warning';

/** Rules `reg check` applies; stable names for --json consumers. */
export type CheckRule =
  | 'entry-without-card'
  | 'card-not-committed'
  | 'card-without-entry'
  | 'card-header'
  | 'card-front-matter'
  | 'card-field'
  | 'pointer-invalid'
  | 'pointer-path'
  | 'pointer-not-committed'
  | 'pointer-in-unversioned-area'
  | 'naming'
  | 'data-not-tracked'
  | 'data-in-git'
  | 'large-file'
  | 'secret-in-config'
  | 'reg-state-tracked'
  | 'template-missing'
  | 'area-missing'
  | 'data-not-on-remote';

export interface Finding {
  severity: Severity;
  rule: CheckRule;
  /** Repo-relative file the finding is about. */
  file: string;
  line?: number;
  area?: string;
  entry?: string;
  message: string;
  /** How to fix it. */
  fix: string;
}

export interface CheckOptions {
  /** Check what is staged for the next commit (index content of cards and pointers). */
  staged?: boolean;
  /**
   * The CI recipe: also require that every pointer of `range` has its data on the remote
   * (nothing is uploaded). Without `range`, every pointer in HEAD's tree.
   */
  ci?: boolean;
  /** `A..B` (pointers added or changed by the commits in B not in A; A all zeros = all of B's history) or a single revision (its whole history). */
  range?: string;
}

export interface CiDataCheck {
  /** What was checked, in words. */
  range: string;
  commits: number;
  pointers: number;
  missing: number;
}

export interface CheckResult {
  staged: boolean;
  areas: number;
  entries: number;
  findings: Finding[];
  errors: number;
  warnings: number;
  /** No errors (warnings allowed). */
  ok: boolean;
  /** With `ci`: the remote-data part of the check. */
  ci?: CiDataCheck;
}

/**
 * Lints the registry: every entry has a valid card, every card an entry, names follow the rules,
 * pointers parse, no data or large files are in Git inside areas, no secrets in the tracked config.
 */
export async function check(ctx: Context, options: CheckOptions = {}, workTreeScan?: RegistryScan, knownIndex?: IndexSnapshot): Promise<CheckResult> {
  const repo = openRepo(ctx);
  const staged = Boolean(options.staged);
  const stagedList = staged ? await stagedPaths(repo.root) : undefined;
  // A caller that scanned the work tree already (the status overview) passes its scan.
  const scan = !staged && workTreeScan ? workTreeScan : await scanRegistry(repo, { staged, stagedPaths: stagedList });
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);

  for (const area of scan.missingAreas) {
    add({ severity: 'warning', rule: 'area-missing', file: area.name, area: area.name, message: `area directory ${area.name}/ does not exist`, fix: 'run `reg init` to create it (or remove the area from .reg/config.yaml)' });
  }
  for (const area of scan.policy.areas) {
    if (scan.missingAreas.includes(area)) continue;
    if (!existsSync(join(repo.root, ...area.template.split('/')))) {
      add({ severity: 'warning', rule: 'template-missing', file: area.template, area: area.name, message: `the card template ${area.template} is missing`, fix: 'run `reg init` to restore the default template' });
    }
  }
  // Flagged in staged mode only when staged; never trusted while tracked at all.
  const stagedSet = staged ? new Set(stagedList) : undefined;
  for (const file of scan.regStateTracked) {
    if (stagedSet && !stagedSet.has(file)) continue;
    add({
      severity: 'error',
      rule: 'reg-state-tracked',
      file,
      message: `${file} is ${staged ? 'staged into' : 'tracked by'} Git; it is reg's local state (remembered results of earlier runs), which reg does not trust from a commit`,
      fix: `git rm -r --cached ${REG_DIR}/tmp (it is in ${REG_DIR}/.gitignore) and commit`,
    });
  }
  const cardChecks = CardChecks.load(repo, scan.regStateTracked.length === 0);
  for (const e of scan.entries) {
    if (staged && e.cardText !== undefined) checkEntry(e, staged, cardStagingNote(repo, e, add), undefined, cardChecks);
    else checkEntry(e, staged, add, undefined, cardChecks);
  }
  cardChecks.save();
  // Without --staged, the whole index is read once and every blob size asked for in one call:
  // the three checks below would otherwise run git five times between them.
  // (The status overview passes both, read while it walked the workspace.)
  const index = staged ? undefined : knownIndex?.entries ?? (await allIndexEntries(repo.root));
  const outside = index?.filter((f) => f.mode !== GITLINK_MODE && areaOf(scan.policy.areas, f.path) === undefined);
  const sizes = index ? knownIndex?.sizes ?? (await blobSizes(repo.root, [...scan.gitFiles, ...outside!].map((f) => f.oid))) : undefined;
  await checkGitFiles(repo, scan.entries, scan.gitFiles, scan.policy.areas, staged, add, sizes);
  await checkLargeFilesOutsideAreas(repo, scan.policy, staged ? new Set(stagedList) : undefined, add, outside && sizes ? { files: outside, sizes } : undefined);
  await checkSecrets(repo, ctx.env, staged, stagedList, add, index && new Set(index.map((f) => f.path)));
  const ci = options.ci ? await checkRemoteData(repo, ctx, options.range, add) : undefined;

  const order = (f: Finding) => (f.severity === 'error' ? 0 : 1);
  findings.sort((a, b) => compareCodeUnits(a.file, b.file) || order(a) - order(b) || compareCodeUnits(a.rule, b.rule));
  const errors = findings.filter((f) => f.severity === 'error').length;
  return {
    staged,
    areas: scan.policy.areas.length,
    entries: scan.entries.length,
    findings,
    errors,
    warnings: findings.length - errors,
    ok: errors === 0,
    ...(ci ? { ci } : {}),
  };
}

/** `reg check --ci`: every pointer of the range (default: HEAD's tree) has its data on the remote. */
async function checkRemoteData(repo: Repo, ctx: Context, range: string | undefined, add: (f: Finding) => void): Promise<CiDataCheck> {
  // Loaded here, not at the top: the remote and transfer modules are only needed by --ci, and
  // the pre-commit hook (which runs check on every commit) should not pay for loading them.
  const { ensureHistoryData, pointersAt, pointersChangedIn } = await import('../remote/history-data.js');
  let found: CommittedPointer[];
  let commits: number;
  let described: string;
  if (range === undefined) {
    const head = await resolveCommit(repo, 'HEAD', '--ci');
    found = await pointersAt(repo.root, head);
    commits = 1;
    described = `the pointers in HEAD (${head.slice(0, 8)})`;
  } else {
    const dots = range.indexOf('..');
    if (range.includes('...')) throw usageError('check.range', `--range ${range}: use A..B (two dots)`, { hint: 'e.g. --range origin/main..HEAD' });
    const from = dots === -1 ? '' : range.slice(0, dots);
    const to = dots === -1 ? range : range.slice(dots + 2) || 'HEAD';
    const tip = await resolveCommit(repo, to, `--range ${range}`);
    const args = ['rev-list', tip];
    if (from !== '' && !ZERO_OID.test(from)) args.push(`^${await resolveCommit(repo, from, `--range ${range}`)}`);
    const list = (await gitText(repo.root, args)).split('\n').filter(Boolean);
    found = await pointersChangedIn(repo.root, list);
    commits = list.length;
    described = from === '' || ZERO_OID.test(from) ? `the history of ${to}` : `the commits ${range}`;
  }
  const data = await ensureHistoryData(repo, ctx, found, 'check');
  if (data.error) {
    add({ severity: 'error', rule: 'data-not-on-remote', file: `${REG_DIR}/${CONFIG_FILE}`, message: data.error, fix: 'add the team remote to the tracked config: reg remote add NAME URL --default (credentials come from the CI environment)' });
  } else {
    for (const m of data.missing) {
      add({
        severity: 'error',
        rule: 'data-not-on-remote',
        file: m.pointer,
        message: `${m.pointer} at ${m.commit.slice(0, 8)} names ${m.oid}, which is not on ${m.remote ?? 'the remote'}${m.reason ? ` (${m.reason})` : ''}`,
        fix: `run reg push ${m.path} on the machine that has this version (git checkout ${m.commit.slice(0, 8)} -- ${m.pointer} there if the pointer moved on), then re-run the check`,
      });
    }
  }
  return { range: described, commits, pointers: data.pointers.length, missing: data.missing.length };
}

async function resolveCommit(repo: Repo, rev: string, where: string): Promise<string> {
  const r = await gitRun(repo.root, ['rev-parse', '--verify', '-q', `${rev}^{commit}`], undefined, { allowFail: true });
  if (r.code !== 0) {
    throw usageError('check.range', `${where}: ${rev} is not a commit in this repository`, {
      hint: 'in CI, fetch the whole history (GitHub Actions: actions/checkout with fetch-depth: 0; GitLab: GIT_DEPTH: 0), and name commits that exist',
    });
  }
  return r.stdout.toString('utf8').trim();
}

/**
 * The per-entry rules of `reg check` (name, card, pointer) for one scanned entry; also the
 * catalog's card status. `card`: the entry's card already parsed (the catalog parses it anyway);
 * else `cardChecks` answers for cards checked before.
 */
export function checkEntry(e: ScannedEntry, staged: boolean, add: (f: Finding) => void, card?: ParsedCard, cardChecks?: CardChecks): void {
  const { area, name } = e;
  const base = { area: area.name, entry: name };
  const versioned = area.mode === 'versioned';
  const hasPointer = e.pointerText !== undefined;
  const hasEntry = versioned ? hasPointer || e.dataOnDisk || e.pointerOnlyOnDisk : e.dataOnDisk;
  const hasCard = e.cardText !== undefined;

  for (const p of checkEntryName(name, area.rules.naming, { isFile: e.isFile })) {
    add({ ...base, severity: p.severity, rule: 'naming', file: e.path, message: p.message, fix: p.fix });
  }

  if (!hasCard && hasEntry) {
    const severity: Severity = area.rules.card === 'required' ? 'error' : 'warning';
    if (e.cardOnlyOnDisk) {
      add({ ...base, severity, rule: 'card-not-committed', file: e.cardRel, message: `the card of ${e.path} is not staged`, fix: `git add ${e.cardRel}` });
    } else {
      add({ ...base, severity, rule: 'entry-without-card', file: e.cardRel, message: `${e.path} has no card${severity === 'warning' ? ' (needed to promote it out of this local area)' : ''}`, fix: `reg new ${e.path} (creates ${e.cardRel} from ${area.template}), then fill it in` });
    }
  }
  if (hasCard && !hasEntry) {
    if (versioned) {
      add({ ...base, severity: 'error', rule: 'card-without-entry', file: e.cardRel, message: `card ${e.cardRel} has no entry (no ${e.pointerRel}${staged ? ' staged' : ''})`, fix: `track the data with \`reg add ${e.path}\` and git add ${e.pointerRel}, or delete the card if the entry is gone` });
    } else {
      add({ ...base, severity: 'warning', rule: 'card-without-entry', file: e.cardRel, message: `card ${e.cardRel} has no data at ${e.path} on this machine`, fix: area.mode === 'synced' ? `get it with \`reg sync pull ${e.path}\`, or delete the card if the entry is gone` : `delete the card if the entry is gone` });
    }
  }
  if (hasCard) {
    const problems = card ? validateParsedCard(card, name, area.rules.requiredFields)
      : cardChecks ? cardChecks.problems(e.cardText!, name, area.rules.requiredFields)
      : validateCard(e.cardText!, name, area.rules.requiredFields);
    for (const p of problems) {
      const fix =
        p.rule === 'card-header' ? `make the first line after the front matter exactly "# Card: ${name}"`
        : p.rule === 'card-field' ? `set "${p.field}: <value>" in the YAML front matter (between the --- lines at the top) of ${e.cardRel}`
        : `fix the front matter of ${e.cardRel} (a YAML mapping between two --- lines at the very top)`;
      add({ ...base, severity: 'error', rule: p.rule, file: e.cardRel, ...('line' in p && p.line !== undefined ? { line: p.line } : {}), message: p.message, fix });
    }
  }
  if (!versioned && hasPointer) {
    add({ ...base, severity: 'error', rule: 'pointer-in-unversioned-area', file: e.pointerRel, message: `${area.name} is a ${area.mode} area, but ${e.pointerRel} versions ${e.path} like a versioned entry`, fix: area.mode === 'synced' ? `git rm --cached ${e.pointerRel} and delete it; share the data with reg sync push ${e.path} (or move the entry to a versioned area)` : `git rm --cached ${e.pointerRel} and delete it (local areas never leave this machine)` });
  }
  if (versioned) {
    if (hasPointer) {
      try {
        const pointer = parsePointer(e.pointerText!, e.pointerRel);
        const out = pointer.outs[0];
        if (pointer.outs.length !== 1 || out === undefined || out.path.replace(/\/+$/, '') !== name) {
          add({ ...base, severity: 'error', rule: 'pointer-path', file: e.pointerRel, message: `${e.pointerRel} must describe exactly one output with path "${name}"${out ? ` (it says "${out.path}")` : ''}`, fix: `re-create it: reg add ${e.path}` });
        }
      } catch (err) {
        if (!isRegError(err)) throw err;
        add({ ...base, severity: 'error', rule: 'pointer-invalid', file: e.pointerRel, message: err.message, fix: err.hint ?? `restore it with git checkout -- ${e.pointerRel}, or re-create it with reg add ${e.path}` });
      }
    } else if (e.pointerOnlyOnDisk && staged) {
      add({ ...base, severity: 'warning', rule: 'pointer-not-committed', file: e.pointerRel, message: `${e.pointerRel} exists but is not staged`, fix: `git add ${e.pointerRel}` });
    } else if (e.dataOnDisk) {
      add({ ...base, severity: 'warning', rule: 'data-not-tracked', file: e.path, message: `${e.path} is not tracked yet (no ${e.pointerRel})`, fix: `reg add ${e.path}` });
    }
  }
}

const CARD_CONTENT_RULES = new Set<CheckRule>(['card-header', 'card-field', 'card-front-matter']);

/**
 * With --staged the card is read from the index. When the work-tree card differs (fixed but not
 * re-staged, the usual surprise), findings about the card say which version they judged and how
 * to stage the other.
 */
function cardStagingNote(repo: Repo, e: ScannedEntry, add: (f: Finding) => void): (f: Finding) => void {
  let disk: string | undefined;
  try {
    // Never through a link (a committed card -> /dev/zero was read forever by the pre-commit hook), nor a FIFO.
    disk = readCardTextIfAny(join(repo.root, ...e.cardRel.split('/')), e.cardRel);
  } catch {
    return add;
  }
  if (disk === undefined || disk === e.cardText) return add;
  const diskFixed = validateCard(disk, e.name, e.area.rules.requiredFields).length === 0;
  return (f) => {
    if (f.file !== e.cardRel || !CARD_CONTENT_RULES.has(f.rule)) return add(f);
    add({
      ...f,
      message: `the staged version of ${e.cardRel}: ${f.message}`,
      fix: diskFixed
        ? `the work-tree version is fixed but not staged: run git add ${e.cardRel}`
        : `${f.fix}, then run git add ${e.cardRel} (the work-tree version differs from the staged one and is not valid either)`,
    });
  };
}

async function checkGitFiles(
  repo: Repo,
  entries: ScannedEntry[],
  files: Array<{ path: string; oid: string }>,
  areas: Area[],
  staged: boolean,
  add: (f: Finding) => void,
  knownSizes?: Map<string, number>,
): Promise<void> {
  if (files.length === 0) return;
  const sizes = knownSizes ?? (await blobSizes(repo.root, files.map((f) => f.oid)));
  const pointerNames = new Set(entries.filter((e) => e.pointerText !== undefined || e.pointerOnlyOnDisk).map((e) => e.path));
  const verb = staged ? 'staged into Git' : 'tracked by Git';
  for (const f of files) {
    const hit = areaOf(areas, f.path);
    if (!hit) continue;
    const { area, rest } = hit;
    const top = rest.split('/')[0]!;
    const kind = rest.includes('/') ? 'data' : classifyAreaChild(rest);
    const size = sizes.get(f.oid) ?? 0;
    const unstage = staged ? `git rm --cached ${f.path}` : `git rm --cached ${f.path} && git commit`;
    const entryOf = kind === 'data' ? { entry: top } : {};
    if (size >= area.rules.largeFileBytes && !largeFileAllowed(area.rules, f.path)) {
      const how = area.mode === 'versioned' ? `reg add ${area.name}/${top}` : area.mode === 'synced' ? `reg sync push ${area.name}/${top}` : 'keep it local';
      add({ severity: 'error', rule: 'large-file', file: f.path, area: area.name, ...entryOf, message: `${f.path} (${size} bytes) is ${verb}; files of ${area.rules.largeFileBytes} bytes or more inside an area must not go into Git`, fix: `${unstage}, then ${kind === 'data' ? how : 'keep big files out of Git (make them a registry entry)'}; the limit is large-file-threshold in .reg/config.yaml` });
    }
    if (kind !== 'data') continue;
    if (area.mode !== 'versioned') {
      add({ severity: 'error', rule: 'data-in-git', file: f.path, area: area.name, entry: top, message: `${f.path} is entry data ${verb}, but ${area.name} is a ${area.mode} area (its data never goes into Git)`, fix: `${unstage}${area.mode === 'synced' ? `; share it with: reg sync push ${area.name}/${top}` : ''}` });
    } else if (pointerNames.has(`${area.name}/${top}`)) {
      add({ severity: 'error', rule: 'data-in-git', file: f.path, area: area.name, entry: top, message: `${f.path} belongs to ${area.name}/${top}, which ${area.name}/${top}.dvc tracks; its bytes must not be ${verb}`, fix: `${unstage} (the .dvc pointer already records it)` });
    } else {
      add({ severity: 'error', rule: 'data-in-git', file: f.path, area: area.name, entry: top, message: `${f.path} is entry data ${verb}; ${area.name} is versioned, so data goes into the cache and only its .dvc pointer into Git`, fix: `${staged ? `git rm -r --cached ${area.name}/${top}` : `git rm -r --cached ${area.name}/${top} && git commit`}, then reg add ${area.name}/${top}` });
    }
  }
}

function largeFileAllowed(rules: AreaRules, path: string): boolean {
  return rules.largeFileAllow.length > 0 && ignore().add(rules.largeFileAllow).ignores(path);
}

/**
 * The large-file rule outside the areas (areas apply their own threshold in checkGitFiles): any
 * file tracked (or, with `staged`, staged) at or above `rules.large-file-threshold` that no
 * `rules.large-file-allow` glob exempts.
 */
async function checkLargeFilesOutsideAreas(
  repo: Repo,
  policy: RegistryPolicy,
  staged: Set<string> | undefined,
  add: (f: Finding) => void,
  known?: { files: IndexEntry[]; sizes: Map<string, number> },
): Promise<void> {
  if (staged !== undefined && staged.size === 0) return;
  const files =
    known?.files ??
    (await allIndexEntries(repo.root)).filter((f) => f.mode !== GITLINK_MODE && (staged === undefined || staged.has(f.path)) && areaOf(policy.areas, f.path) === undefined);
  if (files.length === 0) return;
  const sizes = known?.sizes ?? (await blobSizes(repo.root, files.map((f) => f.oid)));
  const limit = policy.rules.largeFileBytes;
  const verb = staged ? 'staged into Git' : 'tracked by Git';
  for (const f of files) {
    const size = sizes.get(f.oid) ?? 0;
    if (size < limit || largeFileAllowed(policy.rules, f.path)) continue;
    add({
      severity: 'error',
      rule: 'large-file',
      file: f.path,
      message: `${f.path} (${size} bytes) is ${verb}; files of ${limit} bytes or more do not go into Git`,
      fix: `${staged ? `git rm --cached ${f.path}` : `git rm --cached ${f.path} && git commit`}, then version it with reg add ${f.path}; or allow it: add a glob to rules.large-file-allow (or raise rules.large-file-threshold) in .reg/config.yaml`,
    });
  }
}

/** Config files reg or DVC read that people put keys into; `.reg/config.local.yaml` must not be in Git at all. */
const SECRET_FILES: ReadonlyArray<{ rel: string; format: 'yaml' | 'ini'; mustNotBeTracked?: boolean }> = [
  { rel: `${REG_DIR}/${CONFIG_FILE}`, format: 'yaml' },
  { rel: '.dvc/config', format: 'ini' },
  { rel: `${REG_DIR}/${LOCAL_CONFIG_FILE}`, format: 'yaml', mustNotBeTracked: true },
];

/**
 * A config file's text from the work tree for the secrets scan (undefined when there is none).
 * `.dvc/config` is read by nothing else on a check: a committed link there (to `/dev/zero`, to a
 * file outside) or anything but a regular file is refused (exit 3), never read.
 */
export function configTextForScan(repo: Repo, rel: string): string | undefined {
  return readConfigTextIfAny(join(repo.root, ...rel.split('/')), {
    shownAs: rel,
    use: 'reads a config through it',
    hint: `replace it with a regular file (git rm --cached ${rel} if it was committed), then run the command again`,
  });
}

async function checkSecrets(repo: Repo, env: NodeJS.ProcessEnv, staged: boolean, stagedList: string[] | undefined, add: (f: Finding) => void, indexPaths?: Set<string>): Promise<void> {
  const secretFiles = SECRET_FILES.map((f) => f.rel);
  const tracked = new Set(
    staged
      ? stagedList!.filter((p) => secretFiles.includes(p))
      : indexPaths
        ? secretFiles.filter((p) => indexPaths.has(p))
        : await repo.git.trackedUnder(secretFiles),
  );
  for (const file of SECRET_FILES) {
    // The shared config is checked even before its first commit: it is meant to be committed.
    if (!tracked.has(file.rel) && file.rel !== `${REG_DIR}/${CONFIG_FILE}`) continue;
    let text: string | undefined;
    if (staged) {
      if (!tracked.has(file.rel)) continue;
      text = await gitText(repo.root, ['show', `:${file.rel}`]).catch(() => undefined);
    } else {
      text = configTextForScan(repo, file.rel);
    }
    if (text === undefined) continue;
    if (file.mustNotBeTracked) {
      add({
        severity: 'error',
        rule: 'secret-in-config',
        file: file.rel,
        message: `${file.rel} is ${staged ? 'staged into' : 'tracked by'} Git; it holds per-user settings and credentials and must stay out of the repository`,
        fix: `git rm --cached ${file.rel} (it is in .reg/.gitignore), and rotate any key it held if it was ever pushed`,
      });
      continue;
    }
    // (The YAML scan is remembered by the text: a status's overview otherwise parses the config again, cold.)
    const hits = file.format === 'ini' ? findSecretsByLine(text) : rememberedForText(env, 'secret-scan', text, () => findSecrets(text), isSecretHitList);
    for (const hit of hits) {
      add({
        severity: 'error',
        rule: 'secret-in-config',
        file: file.rel,
        line: hit.line,
        message: `${file.rel}:${hit.line}: ${hit.what}; this file is shared through Git`,
        fix: file.format === 'ini'
          ? `move it to .dvc/config.local (dvc remote modify --local ...), and rotate the key if it was ever pushed`
          : `move it to .reg/config.local.yaml (gitignored): for a URL with credentials run reg remote modify <remote> url <URL> (reg moves them), for a key reg remote modify --local <remote> <key> <value>; rotate the key if it was ever pushed`,
      });
    }
  }
}
