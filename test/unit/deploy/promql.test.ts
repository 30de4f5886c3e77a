import assert from 'node:assert/strict';
import { selectorsIn, seriesIn } from './promql';

describe('deploy/promql (the deploy tests reading PromQL)', () => {
  it('finds the series an expression selects, not functions, keywords, labels or numbers', () => {
    const table: [string, string[]][] = [
      ['rate(riskstream_events_total[1m])', ['riskstream_events_total']],
      [
        'histogram_quantile(0.99, sum by (le) (rate(riskstream_event_to_decision_seconds_bucket[5m])))',
        ['riskstream_event_to_decision_seconds_bucket'],
      ],
      [
        'sum(rate(a_total[5m])) > 0.05 * sum(rate(b_total{reason=~"X|Y"}[5m] offset 1h))',
        ['a_total', 'b_total'],
      ],
      [
        'riskstream_ready unless on (instance, job) riskstream_model_info == 1',
        ['riskstream_ready', 'riskstream_model_info'],
      ],
      ['sum(increase(x_total[5m])) == 0 or absent(x_total)', ['x_total']],
      ['time() - last_seconds > 120 and on (instance) sum by (instance) (lag) > 0', ['last_seconds', 'lag']],
      ['label_replace(up_metric, "dst", "$1", "src", "(.*)")', ['up_metric']],
      ['sum without (instance) (rate(c_total[$__rate_interval])) / 1e3', ['c_total']],
      ['process_cpu_seconds_total', ['process_cpu_seconds_total']],
      ['vector(1)', []],
    ];
    for (const [expr, want] of table) assert.deepEqual(seriesIn(expr), want, expr);
  });

  it('finds label matchers with the series they filter', () => {
    assert.deepEqual(selectorsIn('sum(rate(a_total{outcome="dead", reason!~"a}b"}[5m])) + b{}'), [
      { series: 'a_total', labels: ['outcome', 'reason'] },
      { series: 'b', labels: [] },
    ]);
  });
});
