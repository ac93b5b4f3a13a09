import { createReadStream, promises as fs } from 'fs';
import { Readable } from 'stream';
import { CATEGORY_KEYS, CategoryKey } from '../categories';
import { BoatDataError } from '../errors';
import { emptyCategory } from '../export/export-file';
import type { QueueEntry } from '../queue/entries';
import { categoriesCarried, familyOf } from '../queue/parts';

type Piece = { text: string } | { from: number; to: number };

/**
 * The body of one part of an export (urgent or bulk): the file's header
 * under the part's export_id, the categories it carries cut from the file
 * by their byte ranges, the others empty, and statistics of its own. Read
 * from disk in slices; nothing is parsed. Null for an entry sent whole.
 */
export async function partBody(entry: QueueEntry): Promise<{ stream: () => Readable; bytes: number } | null> {
    const layout = entry.layout;
    if (!entry.categories_sent || !layout) return null;
    const handle = await fs.open(entry.export_file, 'r');
    let header: string;
    try {
        const buffer = Buffer.alloc(layout.header_bytes);
        await handle.read(buffer, 0, layout.header_bytes, 0);
        header = buffer.toString('utf8');
    } finally {
        await handle.close();
    }
    const own = `"export_id":${JSON.stringify(familyOf(entry))}`;
    if (!header.includes(own)) throw new BoatDataError('EXPORT_CHANGED', `the export file of ${entry.export_id} does not begin as it was written; it was not uploaded`, 400);
    const pieces: Piece[] = [{ text: header.replace(own, `"export_id":${JSON.stringify(entry.export_id)}`) }];
    const carried = new Set(categoriesCarried(entry));
    const keys = CATEGORY_KEYS.filter((key) => layout.ranges[key]).sort((a, b) => layout.ranges[a]![0] - layout.ranges[b]![0]);
    keys.forEach((key: CategoryKey, i) => {
        pieces.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(key)}:` });
        const [from, to] = layout.ranges[key]!;
        pieces.push(carried.has(key) ? { from, to } : { text: JSON.stringify(emptyCategory(key)) });
    });
    const withData = layout.with_data.filter((key) => carried.has(key)).length;
    const body = pieces.reduce((n, p) => n + ('text' in p ? Buffer.byteLength(p.text) : p.to - p.from), 0);
    // The statistics hold the body's own size: the size that stays true once written.
    let total = body;
    let tail = '';
    for (let i = 0; i < 5; i++) {
        tail = `},"statistics":${JSON.stringify({ total_categories: CATEGORY_KEYS.length, categories_with_data: withData, total_size_bytes: total })}}\n`;
        if (body + Buffer.byteLength(tail) === total) break;
        total = body + Buffer.byteLength(tail);
    }
    pieces.push({ text: tail });
    const file = entry.export_file;
    return { stream: () => Readable.from(read(file, pieces), { objectMode: false }), bytes: body + Buffer.byteLength(tail) };
}

async function* read(file: string, pieces: Piece[]): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
        if ('text' in piece) yield Buffer.from(piece.text);
        else if (piece.to > piece.from) yield* createReadStream(file, { start: piece.from, end: piece.to - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
    }
}
