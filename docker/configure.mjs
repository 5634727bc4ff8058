// Writes a node's JSON config from the environment and the public keys in /keys
// (KEYQUORUM_KEYS_DIR; see entrypoint.sh); waits until every key it must pin has
// been published.
import fs from 'node:fs';

const [role, out] = process.argv.slice(2);
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`keyquorum: set ${name}`);
    process.exit(2);
  }
  return v;
};
const nodeId = env('KEYQUORUM_NODE_ID');
const signers = env('KEYQUORUM_SIGNERS').split(',');
const admin = env('KEYQUORUM_ADMIN_PUBLIC_KEY');
if (!/^[0-9a-f]{64}$/.test(admin)) {
  console.error('keyquorum: KEYQUORUM_ADMIN_PUBLIC_KEY must be 64 lowercase hex characters (keyquorum client-key --out FILE prints one)');
  process.exit(2);
}
const clients = [{ publicKey: admin, roles: ['admin'] }];
const passphraseFile = env('KEYQUORUM_PASSPHRASE_FILE');

const keysDir = process.env.KEYQUORUM_KEYS_DIR ?? '/keys';
const needed = role === 'coordinator' ? signers : ['coordinator', ...signers];
const deadline = Date.now() + 300_000;
const keys = {};
for (const id of needed) {
  const file = `${keysDir}/${id}.pub`;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) {
      console.error(`keyquorum: no public key for ${id} in ${keysDir} after 300 s`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  keys[id] = fs.readFileSync(file, 'utf8').trim();
}
const peers = Object.fromEntries(signers.map((id) => [id, keys[id]]));

const config =
  role === 'coordinator'
    ? { dataDir: '/data', listen: env('KEYQUORUM_LISTEN', '0.0.0.0:7400'), signers: peers, clients, passphraseFile }
    : {
        signerId: nodeId,
        dataDir: '/data',
        coordinatorUrl: env('KEYQUORUM_COORDINATOR_URL'),
        coordinatorPublicKey: keys.coordinator,
        peers,
        clients,
        passphraseFile,
        listen: env('KEYQUORUM_LISTEN', '0.0.0.0:9464'),
      };
fs.writeFileSync(out, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
