// Gates (src/send/transport.ts) for transport tests: what the dispatcher would hand a transport,
// with the journal left out.

import type { Gate } from '../../src/send/transport.js';

export interface RecordingGate extends Gate {
  /** 'ready', 'open' and 'handOver', in the order the transport called them. */
  calls: string[];
}

/** A gate that lets everything through and records how it was used. */
export function openGate(): RecordingGate {
  const calls: string[] = [];
  return {
    calls,
    ready: async () => void calls.push('ready'),
    open: async () => void calls.push('open'),
    handOver: () => void calls.push('handOver'),
  };
}

/** A gate whose open() refuses (the run stopped): synchronously, or through its promise. */
export function refusingGate(how: 'throws' | 'rejects', message = 'the run stopped'): Gate {
  return {
    ready: async () => {},
    open: () => {
      if (how === 'throws') throw new Error(message);
      return Promise.reject(new Error(message));
    },
    handOver: () => {
      throw new Error('handOver after a refused open');
    },
  };
}
