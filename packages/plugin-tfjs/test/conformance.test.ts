import { describe, it } from 'vitest';
import { conformance } from '@weightshare/framework/testing';
import { tfjsPlugin } from '@weightshare/plugin-tfjs';

// The default device (auto): tensorflow when @tensorflow/tfjs-node is installed, else wasm.
conformance({ plugin: tfjsPlugin, describe, it });
