// The connection banner: says plainly when the page is not connected to the Blockvault
// server (web mode's socket dropped, the server stopped, or the page lacks its token), that
// it reconnects by itself, and that what the page shows may be out of date until then.
import { useApp } from '../store';

export function ConnectionBanner() {
  const connection = useApp((s) => s.connection);
  const lost = useApp((s) => s.connectionLost);
  if (connection === 'unauthorized') {
    return (
      <div className="conn-banner conn-banner-error" role="alert">
        <strong>Not connected:</strong> this page was opened without its access token. Open the URL that
        <code> blockvault serve </code> printed (it ends in <code>#token=…</code>) in this browser.
      </div>
    );
  }
  if (!lost) return null;
  return (
    <div className="conn-banner" role="alert" data-connection={connection}>
      <strong>Disconnected from the Blockvault server.</strong>{' '}
      {connection === 'connecting' ? 'Reconnecting…' : 'Reconnecting automatically, with growing pauses between attempts.'}{' '}
      Jobs and versions shown here may be out of date and cannot be canceled or changed until the connection is back; they are
      reloaded then.
    </div>
  );
}
