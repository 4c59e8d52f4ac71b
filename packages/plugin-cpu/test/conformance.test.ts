import { describe, it } from 'vitest';
import { conformance } from '@weightshare/framework/testing';
import { cpuPlugin } from '@weightshare/plugin-cpu';

conformance({ plugin: cpuPlugin, describe, it });
