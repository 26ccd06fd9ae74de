'use strict';
// Turns the results of a run into the terminal table, JSON, Markdown and a hand-written SVG chart
// (no dependencies). Usable on its own: `node bench/report.cjs bench/results/latest.json`
// re-renders the Markdown and SVG from a saved JSON.
const fs = require('node:fs');
const path = require('node:path');
const { fmt } = require('./lib/common.cjs');

/** Display name and colour per peer; one colour per peer across the whole chart. */
const PEERS = {
  'callSoon-hosted': ['callSoon (hosted)', '#1f77b4'],
  'callSoon-owning': ['callSoon (owning)', '#0b3d91'],
  'callLater-hosted': ['callLater (hosted)', '#1f77b4'],
  'callLater-owning': ['callLater (owning)', '#0b3d91'],
  'tasks-generator': ['muxloop tasks (generator)', '#1f77b4'],
  'tasks-async': ['muxloop tasks (async)', '#0b3d91'],
  'muxloop-protocol-hosted': ['muxloop Protocol (hosted)', '#1f77b4'],
  'muxloop-protocol-owning': ['muxloop Protocol (owning)', '#0b3d91'],
  'muxloop-buffered': ['muxloop BufferedProtocol (owning)', '#17becf'],
  'muxloop-streams': ['muxloop streams (owning)', '#9467bd'],
  'muxloop-selectors': ['muxloop DefaultSelector loop', '#8c564b'],
  epoll: ['EpollSelector', '#1f77b4'],
  poll: ['PollSelector', '#ff7f0e'],
  select: ['SelectSelector', '#d62728'],
  setImmediate: ['setImmediate', '#2ca02c'],
  queueMicrotask: ['queueMicrotask', '#bcbd22'],
  nextTick: ['process.nextTick', '#e377c2'],
  setTimeout: ['setTimeout/clearTimeout', '#2ca02c'],
  'Promise.all': ['Promise.all (async fns)', '#2ca02c'],
  'node-net': ['Node net', '#2ca02c'],
  'c-epoll': ['C epoll server', '#7f7f7f'],
  redis: ['redis-server', '#7f7f7f'],
  asyncio: ['Python asyncio', '#ff7f0e'],
  uvloop: ['Python uvloop', '#d62728'],
  'node-tls': ['Node tls', '#2ca02c'],
  'muxloop-tls-owning': ['muxloop TLS (owning)', '#0b3d91'],
  'muxloop-tls-hosted': ['muxloop TLS (hosted)', '#1f77b4'],
  'asyncio-ssl': ['Python asyncio ssl', '#ff7f0e'],
};
const label = (peer) => PEERS[peer]?.[0] ?? peer;
const colour = (peer) => PEERS[peer]?.[1] ?? '#444444';

const EXTRA_NAMES = {
  p50Us: 'p50 us',
  p99Us: 'p99 us',
  serverCpuSecondsPerMmsg: 'server CPU s/M msgs',
  serverCpuPct: 'server CPU %',
  loadgenCpuPct: 'loadgen CPU %',
  loadgenBusy: 'loadgen busy-polls',
  lateP50Ms: 'late p50 ms',
  lateP99Ms: 'late p99 ms',
  wallSeconds: 'wall s',
  seconds: 'seconds',
  rssMiB: 'RSS MiB',
  setupSeconds: 'setup s',
};

/** A TCP run whose load generator used >= 95% of its core: the figure is a floor (marked *). */
const generatorBound = (row) => (row.extra?.loadgenCpuPct ?? 0) >= 95;
const mark = (row) => (generatorBound(row) ? '*' : '');

function refOf(group) {
  return group.rows.find((r) => r.peer === group.reference && !r.skipped);
}

function ratioOf(group, row) {
  const ref = refOf(group);
  return ref && !row.skipped ? row.median / ref.median : undefined;
}

function targetLine(t) {
  const status = t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'MISS';
  const value = t.ratio === undefined || !Number.isFinite(t.ratio) ? 'not measured' : `${t.ratio.toFixed(3)} (${t.op} ${t.bound})`;
  return { status, text: `${t.label}: ${value}${t.detail ? `, ${t.detail}` : ''}` };
}

// ---------------------------------------------------------------------------------------------
// Terminal

function terminal(run) {
  const out = [];
  out.push('');
  out.push(`muxloop bench (${run.mode}) on ${run.machine.cpuModel}, ${run.machine.cores} cores, ${run.machine.kernel}, Node ${run.machine.node}`);
  for (const c of run.cases) {
    out.push('');
    out.push(`== ${c.title} (${c.unit}${c.higherIsBetter === false ? ', lower is better' : ''})`);
    if (c.skipped) {
      out.push(`   skipped: ${c.skipped}`);
      continue;
    }
    for (const g of c.groups) {
      out.push(`  ${g.label}   [ratio vs ${label(g.reference)}]`);
      for (const row of g.rows) {
        if (row.skipped) {
          out.push(`    ${label(row.peer).padEnd(34)} skipped: ${row.skipped}`);
          continue;
        }
        const ratio = ratioOf(g, row);
        const extras = Object.entries(row.extra ?? {})
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${EXTRA_NAMES[k] ?? k} ${fmt(v)}`)
          .join(', ');
        out.push(
          `    ${label(row.peer).padEnd(34)} ${(fmt(row.median) + mark(row)).padStart(9)} [${fmt(row.min)}-${fmt(row.max)}]`.padEnd(64) +
            ` x${ratio === undefined ? '-' : ratio.toFixed(2)}`.padEnd(8) +
            (extras ? `  ${extras}` : ''),
        );
      }
    }
    for (const n of c.notes ?? []) out.push(`  note: ${n}`);
    if (c.groups.some((g) => g.rows.some(generatorBound))) out.push('  * load generator at >= 95% CPU: a floor of the server\'s capacity');
  }
  out.push('');
  out.push('== Targets');
  for (const c of run.cases) for (const t of c.targets ?? []) {
    const { status, text } = targetLine(t);
    out.push(`  ${status}  ${text}`);
  }
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Markdown

function markdown(run, svgName) {
  const m = run.machine;
  const out = [];
  out.push(`# muxloop benchmark results (${run.mode})`);
  out.push('');
  out.push(`Generated by \`${run.command}\` on ${m.date}; took ${run.durationSeconds.toFixed(0)} s. Regenerated by every run.`);
  out.push('');
  out.push(`Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel} (${m.arch}), Node ${m.node}, ` +
    `load average at start ${m.loadAverage.join(' / ')}, taskset ${m.taskset ? 'yes (server CPU 0, load generator CPU 1)' : 'no'}, fd hard limit ${m.fdHardLimit}.`);
  out.push('');
  out.push(`Each figure is the median of the rounds, with the spread (min-max) beside it; the ratio is against the reference peer of the row group (in bold).`);
  out.push('');
  out.push(`![chart](${svgName})`);
  out.push('');
  out.push('## Targets');
  out.push('');
  for (const c of run.cases) for (const t of c.targets ?? []) {
    const { status, text } = targetLine(t);
    out.push(`- **${status}** ${text}`);
  }
  out.push('', '## Summary', '', 'Median per peer, and in parentheses the ratio to the reference peer of the row (in bold).');
  out.push(summary(run));
  for (const c of run.cases) {
    out.push('');
    out.push(`## ${c.title}`);
    out.push('');
    if (c.skipped) {
      out.push(`Skipped: ${c.skipped}`);
      continue;
    }
    if (c.description) out.push(c.description, '');
    const extraKeys = [...new Set(c.groups.flatMap((g) => g.rows.flatMap((r) => Object.keys(r.extra ?? {}))))];
    out.push(`| case | peer | ${c.unit} (median) | spread (min-max) | ratio | ${extraKeys.map((k) => EXTRA_NAMES[k] ?? k).join(' | ')}${extraKeys.length ? ' |' : ''}`);
    out.push(`|---|---|---:|---:|---:|${extraKeys.map(() => '---:|').join('')}`);
    for (const g of c.groups) {
      for (const row of g.rows) {
        const peer = row.peer === g.reference ? `**${label(row.peer)}**` : label(row.peer);
        if (row.skipped) {
          out.push(`| ${g.label} | ${peer} | skipped: ${row.skipped} | | |${extraKeys.map(() => ' |').join('')}`);
          continue;
        }
        const ratio = ratioOf(g, row);
        out.push(
          `| ${g.label} | ${peer} | ${fmt(row.median)}${mark(row)} | ${fmt(row.min)}-${fmt(row.max)} | ${ratio === undefined ? '-' : ratio.toFixed(2)} |` +
            extraKeys.map((k) => ` ${fmt(row.extra?.[k])} |`).join(''),
        );
      }
    }
    for (const n of c.notes ?? []) out.push('', `Note: ${n}`);
    if (c.groups.some((g) => g.rows.some(generatorBound))) out.push('', '\\* load generator at >= 95% of its CPU: a floor of the server\'s capacity.');
  }
  out.push('');
  return out.join('\n');
}

/** One compact table per case: a row per group, a column per peer, "figure (xratio)" cells. */
function summary(run) {
  const out = [];
  for (const c of run.cases) {
    if (c.skipped || !c.groups.length) continue;
    const peers = [...new Set(c.groups.flatMap((g) => g.rows.map((r) => r.peer)))];
    const starred = c.groups.some((g) => g.rows.some(generatorBound)) ? '; \\* = load generator at >= 95% CPU, a floor' : '';
    out.push('', `**${c.title}** (${c.unit}${c.higherIsBetter === false ? ', lower is better' : ''}${starred})`, '');
    out.push(`| | ${peers.map(label).join(' | ')} |`);
    out.push(`|---|${peers.map(() => '---:|').join('')}`);
    for (const g of c.groups) {
      const cells = peers.map((peer) => {
        const row = g.rows.find((r) => r.peer === peer);
        if (!row) return '';
        if (row.skipped) return 'skipped';
        const ratio = ratioOf(g, row);
        const text = `${fmt(row.median)}${mark(row) ? '\\*' : ''} (${ratio === undefined ? '-' : ratio.toFixed(2)})`;
        return peer === g.reference ? `**${text}**` : text;
      });
      out.push(`| ${g.label} | ${cells.join(' | ')} |`);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG: one panel per case, clusters of bars per row group, bar height = median / reference median
// (so different units fit), whiskers = min and max over the rounds.

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function svg(run) {
  const W = 1000;
  const left = 60;
  const right = 20;
  const plotH = 150;
  const r1 = (x) => Math.round(x * 10) / 10;
  const cases = run.cases.filter((c) => !c.skipped && c.groups.length);
  const parts = [];
  let y = 50;
  for (const c of cases) {
    parts.push(
      `<text x="${left}" y="${y + 10}" class="t">${esc(c.title)}: ${esc(c.unit)}, as a ratio to the reference peer of each group${c.higherIsBetter === false ? ' (lower is better)' : ' (higher is better)'}</text>`,
    );
    // The legend of this panel: its peers, in the order of the bars.
    const peers = [...new Set(c.groups.flatMap((g) => g.rows.filter((r) => !r.skipped).map((r) => r.peer)))];
    let lx = left;
    let ly = y + 28;
    for (const peer of peers) {
      const w = 22 + label(peer).length * 6.2;
      if (lx + w > W - right) {
        lx = left;
        ly += 16;
      }
      parts.push(`<rect x="${r1(lx)}" y="${ly - 10}" width="11" height="11" fill="${colour(peer)}"/><text x="${r1(lx + 15)}" y="${ly}" class="l">${esc(label(peer))}</text>`);
      lx += w;
    }
    const top = ly + 16;
    const groups = c.groups;
    const ratios = groups.flatMap((g) => g.rows.filter((r) => !r.skipped).map((r) => ratioOf(g, r) ?? 0));
    const cap = Math.min(Math.max(1.2, ...ratios.map((r) => r * 1.1)), 5);
    const scale = (r) => top + plotH - (Math.min(r, cap) / cap) * plotH;
    const ticks = cap <= 1.5 ? [0, 0.5, 1] : [0, 1, 2, 3, 4, 5].filter((t) => t <= cap);
    for (const t of ticks) {
      const ty = r1(scale(t));
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${ty}" y2="${ty}" class="${t === 1 ? 'one' : 'grid'}"/><text x="${left - 6}" y="${r1(ty + 4)}" class="ax">${t}x</text>`);
    }
    const slot = (W - left - right) / groups.length;
    groups.forEach((g, gi) => {
      const rows = g.rows.filter((r) => !r.skipped);
      const barW = Math.max(3, Math.min(22, (slot - 12) / Math.max(rows.length, 1)));
      const x0 = left + gi * slot + (slot - barW * rows.length) / 2;
      const ref = refOf(g);
      rows.forEach((row, ri) => {
        const ratio = ratioOf(g, row);
        if (ratio === undefined) return;
        const x = x0 + ri * barW;
        const by = scale(ratio);
        const title = `${label(row.peer)}, ${g.label}: ${fmt(row.median)} ${c.unit} (min ${fmt(row.min)}, max ${fmt(row.max)}), ${ratio.toFixed(2)}x ${label(g.reference)}`;
        parts.push(`<rect x="${r1(x)}" y="${r1(by)}" width="${r1(barW - 1)}" height="${r1(top + plotH - by)}" fill="${colour(row.peer)}"><title>${esc(title)}</title></rect>`);
        const wx = r1(x + (barW - 1) / 2);
        parts.push(`<line x1="${wx}" x2="${wx}" y1="${r1(scale(row.min / ref.median))}" y2="${r1(scale(row.max / ref.median))}" class="wh"/>`);
        if (ratio > cap) parts.push(`<text x="${wx}" y="${r1(top - 3)}" class="cap">${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}x</text>`);
      });
      // The group label, wrapped onto at most three lines under its bars.
      const lines = [];
      let line = '';
      for (const w of g.label.split(' ')) {
        if (`${line} ${w}`.trim().length * 5.4 > slot - 4 && line) {
          lines.push(line.trim());
          line = w;
        } else line += ` ${w}`;
      }
      lines.push(line.trim());
      lines.slice(0, 3).forEach((text, li) => {
        parts.push(`<text x="${r1(left + gi * slot + slot / 2)}" y="${r1(top + plotH + 13 + li * 11)}" class="g">${esc(text)}</text>`);
      });
    });
    y = top + plotH + 55;
  }
  const H = y;
  const m = run.machine;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">
<style>
  .h { font-size: 16px; font-weight: bold; } .s { font-size: 11px; fill: #555; } .l { font-size: 11px; }
  .t { font-size: 13px; font-weight: bold; } .ax { font-size: 10px; text-anchor: end; fill: #555; }
  .g { font-size: 9.5px; text-anchor: middle; fill: #333; } .cap { font-size: 9px; text-anchor: middle; fill: #000; }
  .grid { stroke: #ddd; stroke-width: 1; } .one { stroke: #888; stroke-width: 1; stroke-dasharray: 4 3; }
  .wh { stroke: #000; stroke-width: 1; opacity: 0.6; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${left}" y="20" class="h">muxloop benchmarks (${esc(run.mode)}): median of ${esc(run.roundsNote)}, whiskers min-max</text>
<text x="${left}" y="36" class="s">${esc(`${m.cpuModel}, ${m.cores} cores, ${m.kernel}, Node ${m.node}, ${m.date.slice(0, 10)}. Bars above 5x are cut and labelled. Hover a bar for its figures.`)}</text>
${parts.join('\n')}
</svg>
`;
}

/** Writes `<base>.json`, `.md` and `.svg` into `dir`; returns the terminal text. */
function writeAll(run, dir, base) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${base}.json`), `${JSON.stringify(run, null, 1)}\n`);
  fs.writeFileSync(path.join(dir, `${base}.svg`), svg(run));
  fs.writeFileSync(path.join(dir, `${base}.md`), markdown(run, `${base}.svg`));
  return terminal(run);
}

module.exports = { writeAll, terminal, markdown, summary, svg, PEERS };

if (require.main === module) {
  const file = process.argv[2] ?? path.join(__dirname, 'results', 'latest.json');
  const run = JSON.parse(fs.readFileSync(file, 'utf8'));
  const base = path.basename(file, '.json');
  process.stdout.write(writeAll(run, path.dirname(file), base));
}
