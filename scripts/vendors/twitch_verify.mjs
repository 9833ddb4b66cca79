// Twitch's documented verification ("Verifying the event message", EventSub webhooks), as
// its JavaScript sample writes it, on what livehook signs: HMAC-SHA256 with the secret over
// message id + timestamp + raw body, compared with the `sha256=` signature. Reads the JSON
// lines of `cargo run -p livehook --example sign_samples` on stdin.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const verify = (headers, body, secret) => {
  const message =
    headers['twitch-eventsub-message-id'] + headers['twitch-eventsub-message-timestamp'] + body;
  const hmac = 'sha256=' + createHmac('sha256', secret).update(message).digest('hex');
  const given = headers['twitch-eventsub-message-signature'];
  const age = Date.now() - Date.parse(headers['twitch-eventsub-message-timestamp']);
  return (
    given.length === hmac.length &&
    timingSafeEqual(Buffer.from(hmac), Buffer.from(given)) &&
    age < 10 * 60 * 1000
  );
};

let accepted = 0;
for (const line of readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
  const { provider, sample, headers, body, secret } = JSON.parse(line);
  if (provider !== 'twitch') continue;
  if (!verify(headers, body, secret)) {
    console.error(`twitch ${sample}: refused`);
    process.exit(1);
  }
  if (verify(headers, body.replace('}', ',"x":1}'), secret)) {
    console.error(`twitch ${sample}: a changed body was accepted`);
    process.exit(1);
  }
  accepted += 1;
}
if (accepted === 0) {
  console.error('no Twitch deliveries to verify');
  process.exit(1);
}
console.log(`Twitch's documented algorithm: ${accepted} signed deliveries accepted, changed bodies refused`);
