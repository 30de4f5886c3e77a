import { MemorySessionStore } from '../../../src/state/memory';
import { investigationContract } from '../../helpers/store-contract';

describe('state/memory MemorySessionStore: the analyst API contract', () => {
  investigationContract('memory', (options) => new MemorySessionStore(options));
});
