import * as net from 'net';
import * as os from 'os';
import { BoatDataError } from '../errors';

/**
 * The names the boat answers to. A page from anywhere can make the browser
 * resolve its own name to the boat's address (DNS rebinding): its requests
 * then look same-origin, but they still carry the page's name in `Host`. So a
 * boat route answers only when `Host` is one of the boat's own names:
 * loopback, the machine's hostname and `<hostname>.local`, the addresses of
 * its interfaces (read again every few seconds: a marina's DHCP moves them),
 * and the names the owner lists (on the guard node, or in D3KOS_ALLOWED_HOSTS).
 */
export const ALLOWED_HOSTS_ENV = 'D3KOS_ALLOWED_HOSTS';

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/;

/** The host a Host header names: lower case, without port, brackets or trailing dot; null when it is not one. */
export function hostName(header: string | undefined): string | null {
    if (typeof header !== 'string') return null;
    let host = header.trim().toLowerCase();
    const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(host);
    if (bracketed) host = bracketed[1];
    else if (!net.isIPv6(host)) host = host.replace(/:\d{1,5}$/, '');
    host = host.replace(/%.*$/, '').replace(/\.$/, '');
    return net.isIP(host) || HOSTNAME.test(host) ? host : null;
}

export function isLoopback(host: string): boolean {
    if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
    return /^(?:::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A list of names as an owner writes it, comma or space separated; a 400-style error naming one that is not a host name. */
export function parseHostList(text: string | undefined, where: string): string[] {
    const names: string[] = [];
    for (const item of (text ?? '').split(/[\s,]+/).filter(Boolean)) {
        const host = hostName(item);
        if (
            !host ||
            host !==
                item
                    .toLowerCase()
                    .replace(/^\[(.*)\]$/, '$1')
                    .replace(/\.$/, '')
        ) {
            throw new BoatDataError('ALLOWED_HOSTS_INVALID', `${where}: "${item}" is not a host name or address (write names like d3kos.local or 192.168.1.20, without scheme or port)`, 500);
        }
        names.push(host);
    }
    return names;
}

/** What the machine calls itself: hostname, hostname.local, every interface address. */
export function systemNames(): string[] {
    const hostname = os.hostname().toLowerCase();
    const names = [hostname, `${hostname}.local`];
    for (const addresses of Object.values(os.networkInterfaces())) {
        for (const address of addresses ?? []) names.push(address.address.toLowerCase().replace(/%.*$/, ''));
    }
    return names;
}

export class BoatHosts {
    private system: Set<string> = new Set();
    private readAt = -Infinity;

    /** `listed`: names from the guard node and the environment. */
    constructor(
        private readonly listed: string[],
        private readonly refreshMs = 10000,
        private readonly readSystem: () => string[] = systemNames,
    ) {}

    allows(header: string | undefined): boolean {
        const host = hostName(header);
        if (!host) return false;
        if (isLoopback(host) || this.listed.includes(host)) return true;
        if (Date.now() - this.readAt >= this.refreshMs) {
            this.system = new Set(this.readSystem());
            this.readAt = Date.now();
        }
        return this.system.has(host);
    }

    refusal(header: string | undefined): BoatDataError {
        const host = hostName(header);
        const named = host ? `"${host}"` : header ? 'an unreadable name' : 'no name';
        return new BoatDataError(
            'HOST_NOT_BOAT',
            `this request names ${named} as the boat, which is not one of the boat's names; if it is, add it to ${ALLOWED_HOSTS_ENV} or to the request guard's allowed names`,
            403,
        );
    }
}
