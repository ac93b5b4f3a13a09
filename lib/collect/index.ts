import type { CategoryKey } from '../categories';
import type { Collector } from './context';
import { collectBoatlog } from './boatlog';
import { collectEngineBenchmark } from './engine-benchmark';
import { collectOnboarding } from './onboarding';
import { collectQrCodes } from './qr-codes';
import { collectSettings } from './settings';
import { collectSystemAlerts } from './system-alerts';
import { collectTelemetry } from './telemetry';
import { collectVisionCaptures } from './vision-captures';
import { collectVisionSnapshots } from './vision-snapshots';
import { stallLimited } from './stall-limit';

export type { Collector, CollectContext } from './context';

const UNLIMITED: Record<CategoryKey, Collector> = {
    engine_benchmark: collectEngineBenchmark,
    boatlog: collectBoatlog,
    marine_vision_captures: collectVisionCaptures,
    marine_vision_snapshots: collectVisionSnapshots,
    qr_codes: collectQrCodes,
    settings: collectSettings,
    system_alerts: collectSystemAlerts,
    onboarding: collectOnboarding,
    telemetry: collectTelemetry,
};

/** The collector of each category; none can keep an export waiting for ever (see stall-limit). */
export const COLLECTORS = Object.fromEntries(Object.entries(UNLIMITED).map(([key, collector]) => [key, stallLimited(key as CategoryKey, collector)])) as Record<CategoryKey, Collector>;
