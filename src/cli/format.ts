/** Readable output of the list and show commands (the default; `--json` prints the objects). */

const cell = (v: unknown): string => {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/[\r\n\t]+/g, ' ');
};

/** Columns padded to their widest cell; `columns` maps a heading to the item's field. */
export function table(items: Record<string, unknown>[], columns: Record<string, string>, nextCursor: string | null, empty: string): string {
  if (!items.length) return empty;
  const headings = Object.keys(columns);
  const rows = items.map((item) => headings.map((h) => cell(item[columns[h]])));
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const more = nextCursor ? [`(more: add --cursor ${nextCursor})`] : [];
  return [line(headings), ...rows.map(line), ...more].join('\n');
}

/** `field: value` lines, nested objects flattened to `parent.child`. */
export function fields(object: Record<string, unknown>, prefix = ''): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(object)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) lines.push(fields(v as Record<string, unknown>, `${prefix}${k}.`));
    else lines.push(`${prefix}${k}: ${cell(v)}`);
  }
  return lines.join('\n');
}
