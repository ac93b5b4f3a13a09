import { collectorNode } from '../shared/collector-node';

export = collectorNode('d3kos-vision-snapshots', 'marine_vision_snapshots');
