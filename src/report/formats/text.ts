/** A report as terminal tables (cli-table3), GitHub Markdown, or LaTeX with booktabs (best per column in bold). */
import Table from 'cli-table3';
import type { Report } from '../report-model.js';
import { reportTables, type TextTable } from './rows.js';

type Grid = Pick<TextTable, 'head' | 'rows' | 'best'>;

/** The table alone (no title), as cli-table3 draws it. */
export function terminalGrid(table: Grid): string {
  const rendered = new Table({ head: [...table.head], style: { head: [], border: [] } });
  table.rows.forEach((row) => rendered.push([...row]));
  return rendered.toString();
}

export function renderTerminal(report: Report): string {
  return reportTables(report)
    .map((table) => `${table.title}\n${terminalGrid(table)}`)
    .join('\n\n');
}

const markdownCell = (text: string) => text.replace(/\|/g, '\\|');

/** The table alone in GitHub Markdown: the first column left-aligned, the others right; best cells in bold. */
export function markdownGrid(table: Grid): string {
  const rows = table.rows.map((row, r) =>
    row.map((cell, c) => (table.best?.[r]?.[c] === true ? `**${markdownCell(cell)}**` : markdownCell(cell))),
  );
  return [
    `| ${table.head.map(markdownCell).join(' | ')} |`,
    `|${table.head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

function markdownTable(table: TextTable): string {
  return `**${table.title}**\n\n${markdownGrid(table)}`;
}

export function renderMarkdown(report: Report): string {
  return `${reportTables(report).map(markdownTable).join('\n\n')}\n`;
}

const LATEX_SPECIALS: Readonly<Record<string, string>> = {
  '\\': '\\textbackslash{}',
  '&': '\\&',
  '%': '\\%',
  $: '\\$',
  '#': '\\#',
  _: '\\_',
  '{': '\\{',
  '}': '\\}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
};

export function latexEscape(text: string): string {
  return text
    .replace(/[\\&%$#_{}~^]/g, (char) => LATEX_SPECIALS[char]!)
    .replace(/±/g, '$\\pm$')
    .replace(/Δ/g, '$\\Delta$')
    .replace(/×/g, '$\\times$')
    .replace(/−/g, '-');
}

function latexTable(table: TextTable): string {
  const rows = table.rows.map((row, r) =>
    row.map((cell, c) => (table.best?.[r]?.[c] === true ? `\\textbf{${latexEscape(cell)}}` : latexEscape(cell))),
  );
  return [
    '\\begin{table}[t]',
    '\\centering',
    `\\caption{${latexEscape(table.title)}}`,
    `\\begin{tabular}{l${'r'.repeat(table.head.length - 1)}}`,
    '\\toprule',
    `${table.head.map(latexEscape).join(' & ')} \\\\`,
    '\\midrule',
    ...rows.map((row) => `${row.join(' & ')} \\\\`),
    '\\bottomrule',
    '\\end{tabular}',
    '\\end{table}',
  ].join('\n');
}

/** Needs \usepackage{booktabs}. */
export function renderLatex(report: Report): string {
  return `% mceval report: needs \\usepackage{booktabs}\n${reportTables(report).map(latexTable).join('\n\n')}\n`;
}
