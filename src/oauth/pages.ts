// The pages the browser lands on after the callback: small, self-contained (no external
// resources; the server sends a CSP that forbids them) and escaping everything they echo.

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, message: string, ok: boolean): string {
  const color = ok ? '#1a7f37' : '#cf222e';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f6f8fa;color:#1f2328;display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}
main{background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:2.5rem 3rem;max-width:32rem;text-align:center;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:1.4rem;margin:.5rem 0 1rem;color:${color}}
.mark{font-size:2.5rem;color:${color}}
p{line-height:1.5;margin:.5rem 0}
small{color:#59636e}
</style></head>
<body><main><div class="mark">${ok ? '&#10003;' : '&#10007;'}</div><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>
<p><small>oidc-cred</small></p></main></body></html>
`;
}

export function successPage(message: string): string {
  return page('Logged in', message, true);
}

export function errorPage(message: string): string {
  return page('Login failed', message, false);
}
