import { runService } from '../shared/service.js';
import { bootstrap } from './bootstrap.js';

await runService('jobs', bootstrap);
