/**
 * An error a boat owner or installer can act on. `code` is stable for flows
 * (a Catch or Switch node can route on it); `message` says what is wrong and
 * where, in plain words.
 */
export class BoatDataError extends Error {
    readonly code: string;
    readonly statusCode: number;

    constructor(code: string, message: string, statusCode = 500) {
        super(message);
        this.name = 'BoatDataError';
        this.code = code;
        this.statusCode = statusCode;
    }
}

export function errorMessage(err: unknown): string {
    if (err instanceof Error) return err.message;
    return String(err);
}

export function errorCode(err: unknown): string | undefined {
    return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
