import { describe, it } from 'vitest';
import { conformance } from '@weightshare/framework/testing';
import plugin from '../src/index.js';

conformance({ plugin, describe, it });
