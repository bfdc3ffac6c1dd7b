import { isFilled } from './cards.js';

/**
 * The rules a release published outside the team must follow, on top of the registry's own
 * (`reg check`): a licence, a name without the word "dataset" (the release says what it is),
 * and plain names — lowercase letters, digits and hyphens (dots only between the parts of a
 * file name: `page-001.png`, `train.tar.gz`) — so every file opens on every system and URL.
 * Pure.
 */
export interface PublishingProblem {
  rule: 'license' | 'release-name' | 'dataset-word' | 'file-name';
  message: string;
  fix: string;
}

/** A release (bundle) name: lowercase words joined by hyphens. */
const RELEASE_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** One segment of a published path: lowercase letters, digits, hyphens; dots only between parts. */
const PUBLISHED_SEGMENT = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;
/** How many offending file names a message lists. */
const SHOWN = 10;

export function isPublishedSegment(segment: string): boolean {
  return PUBLISHED_SEGMENT.test(segment);
}

/** A close name that follows the rules (lowercase, runs of other characters to one hyphen). */
export function publishableName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/-*\.-*/g, '.')
    .replace(/^[-.]+|[-.]+$/g, '');
}

/** The card's licence value (`license:` or `licence:`), when set. */
export function cardLicense(fields: Record<string, unknown>): unknown {
  for (const key of ['license', 'licence', 'licenses', 'licences']) if (isFilled(fields[key])) return fields[key];
  return undefined;
}

export interface PublishingInput {
  /** The release name (the bundle directory is `<name>-<version>`). */
  name: string;
  /** Where the card is (for messages). */
  cardPath: string;
  /** The card's front matter. */
  cardFields: Record<string, unknown>;
  /** Paths of the published data files, '/'-separated. */
  files: readonly string[];
  /** Publish file names as they are (the file-name rule is skipped). */
  keepNames?: boolean;
}

export function publishingProblems(input: PublishingInput): PublishingProblem[] {
  const problems: PublishingProblem[] = [];
  if (cardLicense(input.cardFields) === undefined) {
    problems.push({
      rule: 'license',
      message: `${input.cardPath} names no licence: nobody outside the team may reuse data without one`,
      fix: `add a licence to the card's front matter, e.g. "license: CC-BY-4.0" (an SPDX id, https://spdx.org/licenses/), commit it and export again`,
    });
  }
  if (/dataset/i.test(input.name)) {
    const better = publishableName(input.name.replace(/[-_ .]*dataset[-_ .]*/gi, '-')) || 'NAME';
    problems.push({
      rule: 'dataset-word',
      message: `the release name "${input.name}" contains the word "dataset"`,
      fix: `publish it under a name that says what the data is: --name ${better} (or rename the entry)`,
    });
  } else if (!RELEASE_NAME.test(input.name)) {
    const better = publishableName(input.name).replace(/\./g, '-') || 'NAME';
    problems.push({
      rule: 'release-name',
      message: `the release name "${input.name}" is not lowercase words joined by hyphens`,
      fix: `publish it as --name ${better} (or rename the entry)`,
    });
  }
  if (!input.keepNames) {
    const bad = input.files.filter((f) => !f.split('/').every(isPublishedSegment));
    if (bad.length > 0) {
      const shown = bad.slice(0, SHOWN).map((f) => `"${f}" (e.g. ${f.split('/').map((s) => (isPublishedSegment(s) ? s : publishableName(s) || 'x')).join('/')})`);
      problems.push({
        rule: 'file-name',
        message: `${bad.length} published file name${bad.length === 1 ? '' : 's'} use${bad.length === 1 ? 's' : ''} characters other than lowercase letters, digits, hyphens and dots: ${shown.join(', ')}${bad.length > SHOWN ? `, ... (${bad.length} in all)` : ''}`,
        fix: 'rename the files in the entry and reg add it again (a new version), or publish the names as they are with --keep-names',
      });
    }
  }
  return problems;
}
