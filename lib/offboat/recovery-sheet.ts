import * as QRCode from 'qrcode';

/**
 * The recovery key as the owner keeps it ashore: the key text and a QR code
 * of it (an SVG, made here so the dashboard needs no script from the
 * internet). Made for the one answer that shows the key; never stored.
 */
export async function recoverySheet(recoveryKey: string): Promise<{ qr_svg: string }> {
    const svg = await QRCode.toString(recoveryKey, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { qr_svg: svg };
}
