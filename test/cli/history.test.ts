// `gantry pipelines` lists what ran, newest first, with status, ref and duration; filters by
// status and ref; pages with --limit and --before.

import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { gantry, ISO_UTC, pipelinesJson, runJson, withSandbox } from '../helpers/gantry.js';

const FILE = 'job:\n  script: test "$FAIL" != 1\n';

describe('gantry pipelines: history', () => {
  it('lists runs newest first with status, ref and duration; filters by --status and --ref; pages', async () => {
    await withSandbox({ '.gantry.yml': FILE }, async (sb) => {
      const ok1 = await runJson(sb);
      const failed = await runJson(sb, ['--var', 'FAIL=1']);
      sb.git('checkout', '-q', '-b', 'topic');
      const onTopic = await runJson(sb);
      assert.deepEqual([ok1.code, failed.code, onTopic.code], [0, 1, 0]);
      const ids = [onTopic.pipeline.id, failed.pipeline.id, ok1.pipeline.id];

      const all = await pipelinesJson(sb);
      assert.deepEqual(all.items.map((p) => p.id), ids);
      assert.deepEqual(all.items.map((p) => p.status), ['success', 'failed', 'success']);
      assert.deepEqual(all.items.map((p) => p.ref), ['topic', 'main', 'main']);
      assert.equal(all.next, null);
      const sha = sb.git('rev-parse', 'HEAD').trim();
      for (const p of all.items) {
        assert.equal(p.sha, sha);
        assert.equal(p.source, 'push');
        for (const t of [p.createdAt, p.startedAt, p.finishedAt]) assert.match(String(t), ISO_UTC);
        assert.ok(Date.parse(p.finishedAt!) >= Date.parse(p.startedAt!));
      }

      assert.deepEqual((await pipelinesJson(sb, ['--status', 'failed'])).items.map((p) => p.id), [failed.pipeline.id]);
      assert.deepEqual((await pipelinesJson(sb, ['--status', 'success'])).items.map((p) => p.id), [onTopic.pipeline.id, ok1.pipeline.id]);
      assert.deepEqual((await pipelinesJson(sb, ['--ref', 'topic'])).items.map((p) => p.id), [onTopic.pipeline.id]);
      assert.deepEqual((await pipelinesJson(sb, ['--ref', 'main', '--status', 'success'])).items.map((p) => p.id), [ok1.pipeline.id]);
      assert.deepEqual((await pipelinesJson(sb, ['--ref', 'nope'])).items, []);

      const page1 = await pipelinesJson(sb, ['--limit', '2']);
      assert.deepEqual(page1.items.map((p) => p.id), ids.slice(0, 2));
      assert.notEqual(page1.next, null);
      const page2 = await pipelinesJson(sb, ['--limit', '2', '--before', String(page1.next)]);
      assert.deepEqual(page2.items.map((p) => p.id), ids.slice(2));
      assert.equal(page2.next, null);

      // The table: one row per pipeline, newest first, with status, ref and a duration.
      const table = await gantry(sb, ['pipelines']);
      assert.equal(table.code, 0, table.stderr);
      const rows = table.out.trim().split('\n');
      assert.match(rows[0]!, /ID\s+STATUS.*REF.*SOURCE\s+BY\s+DURATION/);
      const body = rows.slice(1);
      assert.equal(body.length, 3);
      body.forEach((row, i) => {
        assert.ok(row.startsWith(`#${ids[i]} `), row);
        assert.match(row, new RegExp(`\\b${all.items[i]!.status}\\b`));
        assert.match(row, new RegExp(`\\b${all.items[i]!.ref}\\b`));
        assert.match(row, /\s\d+(ms|\.\ds)\s/, `no duration in ${JSON.stringify(row)}`);
        // `gantry run` records the account running it as who triggered.
        assert.ok(row.includes(` ${os.userInfo().username} `), `no trigger in ${JSON.stringify(row)}`);
      });
      const paged = await gantry(sb, ['pipelines', '--limit', '1']);
      assert.match(paged.out, new RegExp(`gantry pipelines --before ${ids[0]}`));
    });
  });

  it('records a pipeline with its jobs for a blocked (manual) and a failed run alike', async () => {
    await withSandbox({ '.gantry.yml': 'gate:\n  script: "true"\n  rules:\n    - when: manual\n' }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.pipeline.status, 'manual');
      const list = await pipelinesJson(sb, ['--status', 'manual']);
      assert.deepEqual(list.items.map((p) => p.id), [r.pipeline.id]);
    });
  });

  it('says so when there is no history yet, and rejects an unknown --status as a usage error', async () => {
    await withSandbox({ '.gantry.yml': FILE }, async (sb) => {
      const empty = await gantry(sb, ['pipelines']);
      assert.equal(empty.code, 0, empty.stderr);
      assert.match(empty.out, /no pipelines/);
      assert.deepEqual((await pipelinesJson(sb)).items, []);
      const bad = await gantry(sb, ['pipelines', '--status', 'passed']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--status/);
    });
  });
});
