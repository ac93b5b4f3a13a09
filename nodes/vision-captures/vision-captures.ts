import { collectorNode } from '../shared/collector-node';

export = collectorNode('d3kos-vision-captures', 'marine_vision_captures');
