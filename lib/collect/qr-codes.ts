import { Collector, readJsonSource, writeRowCategory } from './context';

/** Records of the QR codes the boat generated, from qr-codes.json. */
export const collectQrCodes: Collector = (context, out) =>
    writeRowCategory('qr_codes', out, async (entries) => {
        const codes = await readJsonSource(context.layout.qrCodes);
        if (codes === undefined) return {};
        const list = Array.isArray(codes) ? codes : (codes as { codes?: unknown })?.codes;
        if (!Array.isArray(list)) throw new Error('qr-codes.json does not hold a list of QR code records');
        await entries.addValues(list);
        return {};
    });
