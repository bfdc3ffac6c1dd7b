// The printed table and the Markdown version written next to the JSON.

function fmtS(x) {
  return x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(3) : x.toFixed(2);
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function lpad(s, n) {
  s = String(s);
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function header(results) {
  const { config: cfg, machine: m, datasets: ds } = results;
  const lines = [];
  lines.push(`reg benchmark  ${results.date}  ${cfg.size !== 'full' ? `(${cfg.size.toUpperCase()} smoke run)` : ''}`);
  lines.push(`reg: commit ${m.regCommit}${m.regTreeDirty ? ' + uncommitted changes in src/' : ''}`);
  lines.push(`machine: ${m.nproc} cores, ${m.cpuModel}, ${m.totalMemGiB} GiB RAM (${m.freeMemGiB} GiB available${m.loadAverage ? `, load ${m.loadAverage}` : ''}), temp dir on ${m.tmpFsType}; node ${m.node}; ${m.git}${m.gitLfs ? '; ' + m.gitLfs : ''}${m.rclone ? '; ' + m.rclone : ''}`);
  lines.push(`cases: ${results.cases.join(', ')}`);
  const parts = [];
  if (ds.small) parts.push(`small tree ${ds.small.files} files / ${ds.small.dirs} dirs / ${mib(ds.small.bytes)}`);
  if (ds.big) parts.push(`big file ${mib(ds.big.bytes)}`);
  if (ds.status) parts.push(`status tree ${ds.status.files} files / ${ds.status.dirs} dirs / ${mib(ds.status.bytes)}`);
  if (parts.length) lines.push(`datasets: ${parts.join('; ')}`);
  lines.push(`rounds: ${cfg.rounds} (add/md5/cp), ${cfg.statusRounds} (status), ${cfg.pushRounds} (push/pull), ${cfg.startupRounds} (start-up); medians; reg and reference alternated in each round`);
  return lines;
}

const roundRange = (c) => (c.roundRatios ? `${c.roundRatioMedian.toFixed(2)}x, ${c.roundRatioMin.toFixed(2)}-${c.roundRatioMax.toFixed(2)}` : '');

export function textReport(results) {
  const lines = ['', ...header(results), ''];
  const W = 52;
  lines.push(`${pad('measurement', W)} ${lpad('median s', 9)} ${lpad('min-max s', 15)} ${lpad('peak RSS', 9)}  samples`);
  for (const x of Object.values(results.measurements)) {
    lines.push(`${pad(x.label, W)} ${lpad(fmtS(x.median), 9)} ${lpad(`${fmtS(x.min)}-${fmtS(x.max)}`, 15)} ${lpad(x.peakRssMB === undefined ? '' : x.peakRssMB.toFixed(0) + ' MB', 9)}  ${x.samples.map(fmtS).join(' ')}`);
  }
  lines.push('');
  lines.push('ratios (reg median / reference median; < 1 means reg is faster; per round: median, min-max):');
  for (const c of results.comparisons) {
    const perRound = roundRange(c);
    lines.push(`  ${pad(c.label, W)} / ${pad(c.refLabel, 44)} = ${lpad(c.ratio.toFixed(2), 6)}x   (${fmtS(c.median)} s vs ${fmtS(c.refMedian)} s${perRound ? `; per round ${perRound}` : ''})`);
  }
  lines.push('');
  lines.push('targets:');
  for (const t of results.targets) lines.push(`  [${t.met ? 'MET ' : 'MISS'}] ${t.name}: ${t.detail}`);
  if (results.notes.length) {
    lines.push('');
    lines.push('notes:');
    for (const n of results.notes) lines.push(`  - ${n}`);
  }
  if (results.errors.length) {
    lines.push('');
    lines.push('errors:');
    for (const e of results.errors) lines.push(`  - ${e}`);
  }
  return lines.join('\n') + '\n';
}

const cell = (s) => String(s).replace(/\|/g, '\\|');

export function markdownReport(results) {
  const lines = [`# reg benchmark ${results.date}`, '', ...header(results).slice(1).map((l) => `- ${l}`), ''];
  lines.push('| measurement | median | min–max | peak RSS | samples |', '| --- | --- | --- | --- | --- |');
  for (const x of Object.values(results.measurements)) {
    lines.push(`| ${cell(x.label)} | ${fmtS(x.median)} s | ${fmtS(x.min)}–${fmtS(x.max)} s | ${x.peakRssMB === undefined ? '' : x.peakRssMB.toFixed(0) + ' MB'} | ${x.samples.map(fmtS).join(' ')} |`);
  }
  lines.push('', '| reg | reference | ratio of medians | per-round ratio (median, min–max) |', '| --- | --- | --- | --- |');
  for (const c of results.comparisons) {
    lines.push(`| ${cell(c.label)} ${fmtS(c.median)} s | ${cell(c.refLabel)} ${fmtS(c.refMedian)} s | **${c.ratio.toFixed(2)}x** | ${c.roundRatios ? `${c.roundRatioMedian.toFixed(2)}x (${c.roundRatioMin.toFixed(2)}–${c.roundRatioMax.toFixed(2)})` : ''} |`);
  }
  if (results.targets.length) {
    lines.push('', '| target | result |', '| --- | --- |');
    for (const t of results.targets) lines.push(`| ${cell(t.name)} | ${t.met ? '**met**' : '**missed**'}: ${cell(t.detail)} |`);
  }
  for (const [title, items] of [['Notes', results.notes], ['Errors', results.errors]]) {
    if (items.length) lines.push('', `${title}:`, '', ...items.map((n) => `- ${n}`));
  }
  return lines.join('\n') + '\n';
}
