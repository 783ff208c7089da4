/* global document, Option */
// The preferences screen: GET /users/:userId/preferences fills it, Save PUTs the whole document
// (the API replaces it; docs/http-api.md "Preferences").

const $ = (id) => document.getElementById(id);

const LABELS = {
  LIKE: 'Likes',
  COMMENT: 'Comments',
  REPLY: 'Replies',
  MENTION: 'Mentions',
  FOLLOW: 'New followers',
  SHARE: 'Shares',
  POST: 'New posts by people I follow',
  PROMO: 'Promotions',
};

function localTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function problemText(err) {
  const details = Array.isArray(err?.details) ? err.details : Array.isArray(err?.body?.details) ? err.body.details : [];
  const more = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  return `${err?.message ?? err}${more ? ` (${more})` : ''}`;
}

/**
 * @param options.mutableTypes the types the API lets a user mute (from /demo-config.json)
 * @returns `open(api)` with `api` = `{ get(), put(prefs) }` for the signed-in user, and `close()`
 */
export function preferencesScreen({ mutableTypes }) {
  const dialog = $('prefs');
  const status = $('prefs-status');
  let api = null;

  // The types come from the server's /demo-config.json: built as elements, so no answer is ever
  // parsed as markup.
  $('muted-types').replaceChildren(
    ...mutableTypes.map((t) => {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.name = 'muted';
      box.value = t;
      const label = document.createElement('label');
      label.className = 'check';
      label.append(box, ` ${LABELS[t] ?? t}`);
      return label;
    }),
  );
  if (typeof Intl.supportedValuesOf === 'function') {
    $('time-zones').replaceChildren(...Intl.supportedValuesOf('timeZone').map((z) => new Option('', z)));
  }

  const syncDnd = () => {
    for (const id of ['dnd-start', 'dnd-end', 'dnd-tz']) $(id).disabled = !$('dnd-on').checked;
  };
  $('dnd-on').addEventListener('change', syncDnd);

  function show(prefs) {
    const muted = new Set(prefs.mutedTypes ?? []);
    for (const box of dialog.querySelectorAll('input[name="muted"]')) box.checked = muted.has(box.value);
    $('promo-opt-out').checked = Boolean(prefs.promotionalOptOut);
    const dnd = prefs.doNotDisturb;
    $('dnd-on').checked = Boolean(dnd);
    $('dnd-start').value = dnd?.start?.slice(0, 5) ?? '22:00';
    $('dnd-end').value = dnd?.end?.slice(0, 5) ?? '07:00';
    $('dnd-tz').value = dnd?.timeZone ?? localTimeZone();
    syncDnd();
  }

  function read() {
    return {
      mutedTypes: [...dialog.querySelectorAll('input[name="muted"]:checked')].map((box) => box.value),
      promotionalOptOut: $('promo-opt-out').checked,
      doNotDisturb: $('dnd-on').checked
        ? { start: $('dnd-start').value, end: $('dnd-end').value, timeZone: $('dnd-tz').value.trim() }
        : null,
    };
  }

  $('prefs-form').addEventListener('submit', async (event) => {
    // The form's method="dialog" would close it at once; it stays open to show the outcome.
    event.preventDefault();
    if (!api) return;
    const save = $('prefs-save');
    save.disabled = true;
    status.textContent = 'Saving…';
    status.dataset.state = 'saving';
    try {
      show(await api.put(read()));
      status.textContent = 'Saved. The next notifications follow them.';
      status.dataset.state = 'saved';
    } catch (err) {
      status.textContent = `Not saved: ${problemText(err)}`;
      status.dataset.state = 'error';
    } finally {
      save.disabled = false;
    }
  });
  $('prefs-cancel').addEventListener('click', () => dialog.close());

  return {
    /** Opens the screen for the user `nextApi` belongs to, with what the server holds. */
    async open(nextApi) {
      api = nextApi;
      status.textContent = 'Loading…';
      status.dataset.state = 'loading';
      $('prefs-save').disabled = true;
      if (!dialog.open) dialog.showModal();
      try {
        show(await api.get());
        status.textContent = '';
        status.dataset.state = 'loaded';
        $('prefs-save').disabled = false;
      } catch (err) {
        status.textContent = `Preferences unavailable: ${problemText(err)}`;
        status.dataset.state = 'error';
      }
    },
    close() {
      if (dialog.open) dialog.close();
    },
  };
}
