import { readLicense, redactLicense, redactSecrets } from '../boat/license';
import { knownSecretValues, scrubKnownSecrets } from '../boat/secrets';
import { errorMessage } from '../errors';
import { Collector, readJsonSource, writeDataCategory } from './context';

/** The owner's preferences and the license, with every secret and billing internal taken out. */
export const collectSettings: Collector = async (context, out) => {
    const problems: string[] = [];
    const data: Record<string, unknown> = {};
    let count = 0;
    const secrets = await knownSecretValues(context.layout);
    try {
        const preferences = await readJsonSource(context.layout.preferences);
        if (preferences !== undefined) {
            data.preferences = scrubKnownSecrets(redactSecrets(preferences), secrets);
            count++;
        }
    } catch (err) {
        problems.push(errorMessage(err));
    }
    try {
        data.license = scrubKnownSecrets(redactLicense(await readLicense(context.layout.license)), secrets);
        count++;
    } catch (err) {
        problems.push(errorMessage(err));
    }
    return writeDataCategory('settings', out, data, count, problems);
};
