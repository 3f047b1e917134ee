import { embed } from './embed.js';
import { report } from './report.js';

report(embed());
