// The test S3 server's SigV4 check (test/helpers/s3-server.ts) is what proves the client signs
// right, so it is checked itself: against the example AWS publishes for S3's header-based
// authentication (GET /test.txt with a Range, 24 May 2013), and against the client's requests.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sigV4Problem } from '../helpers/s3-server.js';

const aws = {
  creds: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  now: Date.UTC(2013, 4, 24, 0, 5),
  request: {
    method: 'GET',
    url: '/test.txt',
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      range: 'bytes=0-9',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-amz-date': '20130524T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    },
  },
};

it("the test server's SigV4 check accepts AWS's published example and refuses it changed in any signed part", () => {
  assert.equal(sigV4Problem(aws.request, aws.creds, 'us-east-1', aws.now), null);
  const changed = (over: Partial<typeof aws.request>, headers: Record<string, string> = {}) => ({ ...aws.request, ...over, headers: { ...aws.request.headers, ...headers } });
  assert.equal(sigV4Problem(changed({ url: '/test.txt2' }), aws.creds, 'us-east-1', aws.now), 'signature does not match');
  assert.equal(sigV4Problem(changed({ method: 'HEAD' }), aws.creds, 'us-east-1', aws.now), 'signature does not match');
  assert.equal(sigV4Problem(changed({}, { range: 'bytes=0-10' }), aws.creds, 'us-east-1', aws.now), 'signature does not match');
  assert.equal(sigV4Problem(changed({}, { host: 'otherbucket.s3.amazonaws.com' }), aws.creds, 'us-east-1', aws.now), 'signature does not match');
  assert.equal(sigV4Problem(aws.request, { ...aws.creds, secretAccessKey: 'x' }, 'us-east-1', aws.now), 'signature does not match');
  assert.match(sigV4Problem(aws.request, aws.creds, 'eu-west-1', aws.now)!, /region/);
  assert.match(sigV4Problem(aws.request, aws.creds, 'us-east-1', aws.now + 3_600_000)!, /skewed/);
});
