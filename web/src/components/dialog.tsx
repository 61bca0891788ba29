// A modal dialog: the browser's own <dialog>, which keeps focus inside while open and closes on Escape.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export function Dialog({ label, role = 'dialog', onClose, children, wide }: { label: string; role?: 'dialog' | 'alertdialog'; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    return () => {
      dialog.close();
      opener?.focus?.();
    };
  }, []);
  return (
    <dialog ref={ref} role={role} aria-label={label} class={wide ? 'wide' : undefined} onCancel={(e) => (e.preventDefault(), onClose())}>
      {children}
    </dialog>
  );
}

/** Asks before a deletion; its confirming button is named `Delete`. */
export function ConfirmDelete({ name, onConfirm, onClose }: { name: string; onConfirm: () => Promise<void>; onClose: () => void }) {
  const cancel = useRef<HTMLButtonElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => cancel.current?.focus(), []);
  const confirm = async () => {
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <Dialog label={`Delete ${name}?`} role="alertdialog" onClose={onClose}>
      <h2>Delete {name}?</h2>
      <p>The file goes for everyone who can see it. This cannot be undone.</p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="button" ref={cancel} onClick={onClose}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={confirm}>
          Delete
        </button>
      </div>
    </Dialog>
  );
}
