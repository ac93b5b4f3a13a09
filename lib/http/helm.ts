import { hostName, isLoopback } from './boat-hosts';

/**
 * Whether a request was made on the boat's own computer (the helm's
 * touchscreen), not from a phone or laptop on the boat's Wi-Fi. A few routes
 * hand out or use the owner's recovery key, which opens every encrypted
 * backup with its secrets: a guest on the Wi-Fi must not be able to make one.
 *
 * The socket must come from loopback. A local proxy (the boat's nginx) also
 * connects from loopback, so whatever it says of the client must be loopback
 * too: every X-Forwarded-For entry, X-Real-IP and Forwarded `for=`. A client
 * can add such headers itself, but a proxy appends (or overwrites) the real
 * address, so a forged "127.0.0.1" never stands alone.
 *
 * And `Host` must be loopback, as the helm's browser sends it. A proxy that
 * passes the boat's own name but says nothing of the client (an nginx
 * location without X-Forwarded-For) could be relaying anyone: with the
 * boat's name in `Host`, the proxy must name a loopback client.
 */
export function fromHelm(remoteAddress: string | undefined, headers: Record<string, string | string[] | undefined>): boolean {
    if (!remoteAddress || !isLoopback(remoteAddress.toLowerCase())) return false;
    const said: string[] = [];
    const add = (value: string | string[] | undefined, split: (text: string) => string[]) => {
        for (const text of Array.isArray(value) ? value : value === undefined ? [] : [value]) said.push(...split(text));
    };
    add(headers['x-forwarded-for'], (text) => text.split(','));
    add(headers['x-real-ip'], (text) => [text]);
    add(headers['forwarded'], (text) => [...text.matchAll(/for=("?)\[?([^\]";,]*)\]?(?::\d+)?\1/gi)].map((m) => m[2]));
    const host = hostName(Array.isArray(headers.host) ? headers.host[0] : headers.host);
    if (!host) return false;
    if (!isLoopback(host) && said.length === 0) return false;
    return said.every((address) => {
        const plain = address
            .trim()
            .toLowerCase()
            .replace(/^\[(.*)\](?::\d+)?$/, '$1');
        return isLoopback(plain);
    });
}
