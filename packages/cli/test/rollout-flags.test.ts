// push --canary's flags read into a rollout, and the mistakes named by flag.
import t from 'tap';
import { instanceLabels, rolloutOptions } from '../dist/rollout-flags.js';

t.test('--canary with its judge flags becomes the rollout; defaults are sane', async (t) => {
  t.equal(rolloutOptions({}), undefined, 'no --canary: no rollout');
  t.same(rolloutOptions({ canary: '2' }), { canary: '2', judge: { judgeMs: 60_000, errorMargin: 0.01, minErrors: 5, allowGone: 0 }, waves: [100] });
  t.same(rolloutOptions({ canary: 'ring=canary', judge: '5s', judgeErrorMargin: '2.5%', judgeMaxDown: '0', judgeAllowGone: '1', waves: '10%,50%,100%' }), {
    canary: 'ring=canary',
    judge: { judgeMs: 5000, errorMargin: 0.025, minErrors: 5, allowGone: 1, maxDown: 0 },
    waves: [10, 50, 100],
  });
});

t.test('bad rollout flags are usage errors naming the flag', async (t) => {
  t.throws(() => rolloutOptions({ judge: '5s' }), { message: /--judge, --judge-\* and --waves apply to a canary rollout: they need --canary/, category: 'usage' });
  t.throws(() => rolloutOptions({ canary: '1', judge: '500ms' }), { message: /--judge: at least 1s/ });
  t.throws(() => rolloutOptions({ canary: '1', waves: '50%' }), { message: /--waves: "50%" is not a rising list of percentages ending at 100%/ });
  t.throws(() => rolloutOptions({ canary: '1', waves: '50%,20%,100%' }), { message: /--waves/ });
  t.throws(() => rolloutOptions({ canary: '1', judgeErrorMargin: 'lots' }), { message: /--judge-error-margin: "lots" is not a percentage/ });
  t.throws(() => rolloutOptions({ canary: '1', judgeMaxDown: '-1' }), { message: /--judge-max-down: "-1" is not a whole number/ });
  t.throws(() => instanceLabels({ instanceLabel: ['ring'] }), { message: /--instance-label: "ring" is not key=value/ });
  t.same(instanceLabels({ instanceLabel: ['ring=canary', 'zone=eu-1'] }), ['ring=canary', 'zone=eu-1']);
});
