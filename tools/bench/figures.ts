/** One measured figure, reported with the reference it is compared to. */
export interface BenchFigure {
    name: string;
    value: number;
    unit: string;
    reference?: string;
    ratio?: number;
    target?: string;
    pass?: boolean;
}

export type BenchPart = (log: (line: string) => void) => Promise<BenchFigure[]>;

export function formatFigure(f: BenchFigure): string {
    const value = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(2);
    const ratio = f.ratio !== undefined ? `  ratio ${f.ratio.toFixed(2)}` : '';
    const target = f.target ? `  target ${f.target}` : '';
    const verdict = f.pass === undefined ? '' : f.pass ? '  PASS' : '  MISS';
    const reference = f.reference ? `  (vs ${f.reference})` : '';
    return `${f.name}: ${value} ${f.unit}${ratio}${target}${verdict}${reference}`;
}
