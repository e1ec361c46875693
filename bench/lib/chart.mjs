// A plain SVG chart of the sandbox benchmark, written without dependencies:
// (1) the cost of one system call per platform next to the C floors,
// (2) each workload's speed relative to native per platform (log scale).

const COLORS = {
  native: "#6b7280",
  kvm: "#2563eb",
  seccomp: "#16a34a",
  runsc: "#dc2626",
  floor: "#9ca3af",
  ts: "#93c5fd",
  getppid: "#2563eb",
  openread: "#f59e0b",
};

function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/**
 * Horizontal grouped bars. groups: [{ label, bars: [{ key, value, text }] }];
 * bars with no value are drawn as a note. Returns { svg, height }.
 */
function barPanel({ title, subtitle, groups, x0, y0, width, log = false, min, max, ticks, tickText, legend }) {
  const labelW = 210;
  const barH = 13;
  const gap = 3;
  const groupGap = 12;
  const plotX = x0 + labelW;
  const plotW = width - labelW - 40;
  const parts = [];
  let y = y0;
  parts.push(`<text x="${x0}" y="${y + 14}" ${FONT} font-size="15" font-weight="bold">${esc(title)}</text>`);
  y += 20;
  if (subtitle) {
    parts.push(`<text x="${x0}" y="${y + 12}" ${FONT} font-size="11" fill="#4b5563">${esc(subtitle)}</text>`);
    y += 18;
  }
  if (legend) {
    let lx = x0;
    for (const [key, text] of legend) {
      parts.push(`<rect x="${lx}" y="${y + 2}" width="11" height="11" fill="${COLORS[key] ?? "#000"}"/>`);
      parts.push(`<text x="${lx + 15}" y="${y + 12}" ${FONT} font-size="11">${esc(text)}</text>`);
      lx += 22 + text.length * 6.2;
    }
    y += 20;
  }
  const scale = (v) => {
    const t = log ? (Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min)) : (v - min) / (max - min);
    return plotX + Math.max(0, Math.min(1, t)) * plotW;
  };
  const top = y;
  const body = [];
  for (const g of groups) {
    const h = g.bars.length * (barH + gap) - gap;
    body.push(
      `<text x="${plotX - 8}" y="${y + h / 2 + 4}" ${FONT} font-size="12" text-anchor="end">${esc(g.label)}</text>`,
    );
    for (const b of g.bars) {
      if (b.value === undefined || !(b.value > 0)) {
        body.push(
          `<text x="${plotX + 4}" y="${y + barH - 3}" ${FONT} font-size="10" fill="#6b7280">${esc(b.text ?? "not measured")}</text>`,
        );
      } else {
        const x1 = scale(b.value);
        body.push(
          `<rect x="${plotX}" y="${y}" width="${Math.max(1, x1 - plotX).toFixed(1)}" height="${barH}" fill="${COLORS[b.key] ?? "#000"}"><title>${esc(b.text)}</title></rect>`,
        );
        // The value beside the bar, or inside its end when the bar is long.
        const inside = x1 > plotX + plotW * 0.7;
        body.push(
          inside
            ? `<text x="${x1 - 4}" y="${y + barH - 3}" ${FONT} font-size="10" fill="${b.key === "ts" || b.key === "floor" ? "#111827" : "#ffffff"}" text-anchor="end">${esc(b.text)}</text>`
            : `<text x="${x1 + 4}" y="${y + barH - 3}" ${FONT} font-size="10">${esc(b.text)}</text>`,
        );
      }
      y += barH + gap;
    }
    y += groupGap;
  }
  const bottom = y - groupGap + 4;
  for (const t of ticks) {
    const x = scale(t);
    parts.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${bottom}" stroke="#e5e7eb"/>`);
    parts.push(
      `<text x="${x}" y="${bottom + 13}" ${FONT} font-size="10" fill="#4b5563" text-anchor="middle">${esc(tickText(t))}</text>`,
    );
  }
  parts.push(...body);
  parts.push(`<line x1="${plotX}" y1="${top - 4}" x2="${plotX}" y2="${bottom}" stroke="#111827"/>`);
  return { svg: parts.join("\n"), height: bottom + 22 - y0 };
}

function niceLinearTicks(max) {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t <= max + 1e-9; t += step) ticks.push(t);
  return { ticks, max: ticks.at(-1) < max ? ticks.at(-1) + step : ticks.at(-1) };
}

const us = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(ns >= 1e4 ? 1 : 2)} µs` : `${ns.toFixed(0)} ns`);

/** The chart as an SVG document, from a sandbox benchmark result. */
export function sandboxChart(r) {
  const width = 900;
  const w = r.workloads;
  const val = (cell) => (cell && cell.value !== undefined ? cell.value : undefined);
  const why = (cell) => {
    if (!cell?.skipped) return "not measured";
    return `skipped: ${cell.skipped.length > 90 ? `${cell.skipped.slice(0, 88)}…` : cell.skipped}`;
  };

  // Panel 1: cost of one system call.
  const platforms = [
    ["native", "native"],
    ["kvm", "kindling, kvm platform"],
    ["seccomp", "kindling, seccomp platform"],
    ["runsc", "gVisor runsc, ptrace"],
  ];
  const groups1 = [];
  for (const [id, label] of platforms) {
    groups1.push({
      label,
      bars: ["getppid", "openread"].map((k) => {
        const cell = w[k]?.cells[id];
        const value = val(cell);
        return { key: k, value, text: value !== undefined ? us(value) : why(cell) };
      }),
    });
    if (id === "kvm") {
      const f = r.floors?.kvmExit;
      groups1.push({
        label: "floor: KVM ring-3 exit",
        bars: [
          { key: "floor", value: f?.cNs, text: f?.cNs !== undefined ? `${us(f.cNs)} (C)` : why(f) },
          { key: "ts", value: f?.tsNs, text: f?.tsNs !== undefined ? `${us(f.tsNs)} (TypeScript loop)` : why(f) },
        ],
      });
    }
    if (id === "seccomp") {
      const f = r.floors?.seccomp;
      groups1.push({
        label: "floor: seccomp notification",
        bars: [{ key: "floor", value: f?.ns, text: f?.ns !== undefined ? `${us(f.ns)} (C)` : why(f) }],
      });
    }
  }
  const max1 = Math.max(1, ...groups1.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const t1 = niceLinearTicks(max1);
  const p1 = barPanel({
    title: "Cost of one system call",
    subtitle: "getppid: ns per call; open/read/close: ns per system call (the loop's time / 3). Lower is better.",
    groups: groups1,
    x0: 20,
    y0: 20,
    width,
    min: 0,
    max: t1.max,
    ticks: t1.ticks,
    tickText: (t) => (t === 0 ? "0" : us(t)),
    legend: [
      ["getppid", "getppid"],
      ["openread", "open/read/close, per syscall"],
      ["floor", "C floor"],
      ["ts", "TypeScript exit loop (no libos)"],
    ],
  });

  // Panel 2: relative speed.
  const order = ["getppid", "openread", "readfile", "sha256", "hello", "compute"];
  const groups2 = [];
  let lo = 1;
  let hi = 1;
  for (const id of order) {
    const wl = w[id];
    if (!wl) continue;
    const n = val(wl.cells.native);
    const bars = [];
    for (const p of ["kvm", "seccomp", "runsc"]) {
      const s = val(wl.cells[p]);
      if (n === undefined || s === undefined) {
        bars.push({ key: p, text: `${p}: ${why(wl.cells[p] ?? wl.cells.native)}` });
        continue;
      }
      const rel = wl.lowerIsBetter ? n / s : s / n;
      lo = Math.min(lo, rel);
      hi = Math.max(hi, rel);
      bars.push({ key: p, value: rel, text: rel >= 0.1 ? rel.toFixed(2) : rel.toPrecision(2) });
    }
    groups2.push({ label: wl.title.replace(/ \(.*\)$/, ""), bars });
  }
  const min2 = 10 ** Math.floor(Math.log10(Math.max(1e-6, lo)));
  const max2 = Math.max(1, hi) * 1.6;
  const ticks2 = [];
  for (let t = min2; t <= max2 * 1.0001; t *= 10) ticks2.push(Number(t.toPrecision(1)));
  const p2 = barPanel({
    title: "Speed relative to native (1 = native speed; log scale)",
    subtitle: "native time / sandbox time (MiB/s ratio for the file read). Higher is better.",
    groups: groups2,
    x0: 20,
    y0: 20 + p1.height + 20,
    width,
    log: true,
    min: min2,
    max: max2,
    ticks: ticks2,
    tickText: (t) => (t >= 1 ? `${t}×` : `${t.toPrecision(1)}×`),
    legend: [
      ["kvm", "kindling kvm"],
      ["seccomp", "kindling seccomp"],
      ["runsc", "gVisor runsc (ptrace)"],
    ],
  });
  const height = 20 + p1.height + 20 + p2.height + 30;
  const foot = `${r.machine.cpu}, ${r.machine.cores} cores, Linux ${r.machine.kernel}, Node ${r.machine.node}, load ${r.machine.loadavg[0]}→${r.machine.loadavgEnd?.[0] ?? "?"}, ${r.machine.date.slice(0, 16)}Z, ${r.mode} mode`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    p1.svg,
    p2.svg,
    `<text x="20" y="${height - 12}" ${FONT} font-size="10" fill="#6b7280">${esc(foot)}</text>`,
    "</svg>",
    "",
  ].join("\n");
}
