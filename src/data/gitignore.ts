/** The `.gitignore` line DVC writes for an output named `name` in the same directory. */
export function gitignoreLine(name: string): string {
  return '/' + name.replace(/([[\]!*#?])/g, '\\$1');
}

/** Appends `line` to a .gitignore text unless an identical line is there already. */
export function addGitignoreLine(text: string, line: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines.includes(line)) return text;
  const sep = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
  return text + sep + line + '\n';
}
