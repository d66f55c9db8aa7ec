"""Sen's hosted page for a form (`GET /f/{key}`): plain HTML and a little script, Vietnamese or
English, usable on a phone. Everything on it that came from an admin or a submitter is escaped,
and the script writes what the server answers only as text (`textContent`), never as HTML."""

import html
import secrets
from typing import Any

from app.forms.models import Form

WORDS = {
    "vi": {
        "send": "Gửi",
        "sending": "Đang gửi…",
        "thanks": "Cảm ơn {name}! Chúng tôi đã nhận được thông tin và sẽ liên hệ sớm.",
        "you": "bạn",
        "invalid": "Vui lòng kiểm tra lại:",
        "failed": "Chưa gửi được, vui lòng thử lại sau giây lát.",
        "required": "bắt buộc",
        "choose": "— Chọn —",
        "other_language": ("en", "English"),
    },
    "en": {
        "send": "Send",
        "sending": "Sending…",
        "thanks": "Thank you, {name}! We have your details and will be in touch soon.",
        "you": "you",
        "invalid": "Please check:",
        "failed": "It could not be sent; please try again in a moment.",
        "required": "required",
        "choose": "— Choose —",
        "other_language": ("vi", "Tiếng Việt"),
    },
}


def language(requested: str | None, accept_language: str | None) -> str:
    """`?lang=` when given, else English for a browser that prefers it, else Vietnamese."""
    if requested in WORDS:
        return str(requested)
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "vi"


def _control(field: dict[str, Any], words: dict[str, Any], lang: str) -> str:
    name = html.escape(field["name"])
    kind = field.get("type", "text")
    label = str(field.get("label_en") if lang == "en" and field.get("label_en") else field["label"])
    label_html = html.escape(label)
    required = field.get("required", False)
    attrs = f'id="f-{name}" name="{name}"' + (" required" if required else "")
    mark = f' <span class="req" title="{words["required"]}">*</span>' if required else ""
    if kind == "hidden":
        return f'<input type="hidden" {attrs}>'
    if kind == "checkbox":
        return (
            f'<p class="check"><input type="checkbox" value="yes" {attrs}>'
            f' <label for="f-{name}">{label_html}{mark}</label></p>'
        )
    if kind == "textarea":
        control = f'<textarea rows="4" {attrs}></textarea>'
    elif kind == "select":
        options = "".join(
            f'<option value="{html.escape(o)}">{html.escape(o)}</option>'
            for o in field.get("options", [])
        )
        control = f'<select {attrs}><option value="">{words["choose"]}</option>{options}</select>'
    else:
        autocomplete = {"email": "email", "tel": "tel"}.get(kind, "on")
        control = f'<input type="{kind}" autocomplete="{autocomplete}" {attrs}>'
    return f'<p><label for="f-{name}">{label_html}{mark}</label>{control}</p>'


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  background:#f5f6f8;color:#1d2330}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.4rem}
label{display:block;font-weight:600;margin-bottom:.3rem}
.check label{display:inline;font-weight:400}
input:not([type=checkbox]),select,textarea{box-sizing:border-box;width:100%;font-size:1rem;
  padding:.65rem;border:1px solid #b8bfcc;border-radius:.4rem;background:#fff}
button{width:100%;font-size:1.05rem;padding:.8rem;border:0;border-radius:.4rem;
  background:#0b6bcb;color:#fff}
button[disabled]{opacity:.6}
.req{color:#b3261e}
.hp{position:absolute;left:-5000px}
#result{margin-top:1rem;white-space:pre-line}
#result.ok{color:#14632f}
#result.error{color:#b3261e}
.lang{text-align:right;font-size:.9rem}
"""

# Posts the fields as JSON and writes the answer with textContent only.
_SCRIPT = """
const form = document.getElementById("sen-form");
const result = document.getElementById("result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  const fields = {};
  for (const [name, value] of new FormData(form).entries()) fields[name] = value;
  const query = new URLSearchParams(location.search);
  for (const name of ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                      "gclid", "fbclid"]) {
    if (query.get(name) && !fields[name]) fields[name] = query.get(name);
  }
  button.disabled = true;
  button.textContent = form.dataset.sending;
  result.className = "";
  result.textContent = "";
  try {
    const response = await fetch(form.action, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(fields),
    });
    if (response.status === 202) {
      form.hidden = true;
      result.className = "ok";
      // What the visitor typed goes back on the page as text, never as HTML.
      const name = (fields.full_name || "").trim() || form.dataset.you;
      result.textContent = form.dataset.thanks.replace("{name}", name);
      return;
    }
    const problem = await response.json().catch(() => ({}));
    result.className = "error";
    if (response.status === 422 && Array.isArray(problem.errors)) {
      const labels = problem.errors.map((e) => {
        const label = form.querySelector(`label[for="f-${CSS.escape(e.field)}"]`);
        return `• ${label ? label.textContent.replace(/\\s*\\*$/, "") : e.field}: ${e.message}`;
      });
      result.textContent = `${form.dataset.invalid}\\n${labels.join("\\n")}`;
    } else {
      result.textContent = form.dataset.failed;
    }
  } catch (error) {
    result.className = "error";
    result.textContent = form.dataset.failed;
  } finally {
    button.disabled = false;
    button.textContent = form.dataset.send;
  }
});
"""


def _honeypot(name: str) -> str:
    # Hidden from people (off-screen, out of the tab order), filled in by bots that fill every
    # field: a post that fills it is stored as spam.
    return (
        f'<p class="hp" style="position:absolute;left:-5000px" aria-hidden="true">'
        f'<input type="text" name="{html.escape(name)}" tabindex="-1" autocomplete="off"></p>'
    )


def snippet(
    fields: list[dict[str, Any]], *, action: str, honeypot: str, consent_text: str | None
) -> str:
    """The ready-to-paste HTML form for a website: no script, posting straight to `action`."""
    words = WORDS["vi"]
    lines = [f'<form action="{html.escape(action)}" method="post">']
    lines += [_control(field, words, "vi") for field in fields]
    if consent_text:
        lines.append(f"<p>{html.escape(consent_text)}</p>")
    lines += [_honeypot(honeypot), '<button type="submit">Gửi / Send</button>', "</form>"]
    return "\n".join(lines)


def render(form: Form, *, post_path: str, lang: str) -> tuple[str, str]:
    """The page and the nonce its script runs under (for the Content-Security-Policy)."""
    words = WORDS[lang]
    other, other_name = words["other_language"]
    nonce = secrets.token_urlsafe(16)
    controls = "\n".join(_control(field, words, lang) for field in form.fields)
    consent = f"<p>{html.escape(form.consent_text)}</p>" if form.consent_text else ""
    data = " ".join(
        f'data-{key}="{html.escape(str(words[key]))}"'
        for key in ("send", "sending", "thanks", "you", "invalid", "failed")
    )
    page = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{html.escape(form.name)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<p class="lang"><a href="?lang={other}">{other_name}</a></p>
<h1>{html.escape(form.name)}</h1>
<form id="sen-form" method="post" action="{html.escape(post_path)}" {data}>
{controls}
{_honeypot(form.honeypot_field)}
{consent}
<button type="submit">{words["send"]}</button>
</form>
<p id="result" role="status" aria-live="polite"></p>
</main>
<script nonce="{nonce}">{_SCRIPT}</script>
</body>
</html>
"""
    return page, nonce
