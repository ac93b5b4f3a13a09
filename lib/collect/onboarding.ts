import { redactSecrets } from '../boat/license';
import { knownSecretValues, scrubKnownSecrets } from '../boat/secrets';
import { BoatDataError, errorCode, errorMessage } from '../errors';
import { Collector, parseEnvFile, readJsonSource, writeDataCategory } from './context';
import { readRegularFile } from '../files/regular-file';

/** The setup wizard's answers, how often it was reset, and the vessel's identity from vessel.env. */
export const collectOnboarding: Collector = async (context, out) => {
    const { layout } = context;
    const problems: string[] = [];
    const data: Record<string, unknown> = {};
    let count = 0;
    const secrets = await knownSecretValues(layout);
    try {
        const answers = await readJsonSource(layout.onboarding);
        if (answers !== undefined) {
            data.wizard_answers = scrubKnownSecrets(redactSecrets(answers), secrets);
            count++;
        }
    } catch (err) {
        problems.push(errorMessage(err));
    }
    try {
        const reset = await readJsonSource(layout.onboardingResetCount);
        if (reset !== undefined) {
            const value = typeof reset === 'number' ? reset : (reset as { count?: unknown })?.count;
            if (typeof value !== 'number') throw new Error('onboarding-reset-count.json has no count');
            data.reset_count = value;
            count++;
        }
    } catch (err) {
        problems.push(errorMessage(err));
    }
    try {
        const vessel = parseEnvFile(await readRegularFile(layout.vesselEnv));
        data.vessel = scrubKnownSecrets(redactSecrets(vessel), secrets);
        count++;
    } catch (err) {
        if (err instanceof BoatDataError) problems.push(errorMessage(err));
        else if (errorCode(err) !== 'ENOENT') problems.push(`vessel.env cannot be read: ${errorMessage(err)}`);
    }
    return writeDataCategory('onboarding', out, data, count, problems);
};
