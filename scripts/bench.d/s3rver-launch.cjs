// Start s3rver for scripts/bench with the benchmark's key pair.
//   node s3rver-launch.cjs PORT DIR ACCESS_KEY SECRET_KEY   (NODE_PATH must reach s3rver)
// s3rver only knows its built-in S3RVER/S3RVER pair; the benchmark's pair is
// added to the same built-in account, so SigV4 is checked as for the others.
'use strict';
const [port, directory, ak, sk] = process.argv.slice(2);
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(ak, sk);
const server = new S3rver({ address: '127.0.0.1', port: Number(port), directory, silent: true });
server.run().then((addr) => {
  console.log(`s3rver listening on http://${addr.address}:${addr.port}`);
}, (err) => { console.error(err); process.exit(1); });
const stop = () => server.close().then(() => process.exit(0), () => process.exit(1));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
