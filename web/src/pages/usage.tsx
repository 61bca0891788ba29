// The organization's storage: space used against the quota, bytes by kind and by month (Chart.js), the largest files, the top uploaders.
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { api } from '../api';
import { formatBytes } from '../format';
import { useLoad } from '../use-load';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

export function UsagePage() {
  const usage = useLoad(() => api.usage(), []);
  if (usage.error) return <p role="alert" class="error">{usage.error}</p>;
  const data = usage.data;
  if (!data) return <p aria-busy="true">Loading…</p>;
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <dl class="figures">
        <div>
          <dt id="space-used">Space used</dt>
          <dd aria-labelledby="space-used" data-bytes={data.usedBytes}>
            {formatBytes(data.usedBytes)}
            {data.quotaBytes !== null ? ` of ${formatBytes(data.quotaBytes)}` : ' (no quota)'}
          </dd>
        </div>
        <div>
          <dt id="file-count">Files</dt>
          <dd aria-labelledby="file-count" data-count={data.files}>
            {data.files}
          </dd>
        </div>
        <div>
          <dt id="largest-allowed">Largest file allowed</dt>
          <dd aria-labelledby="largest-allowed">{formatBytes(data.maxFileBytes)}</dd>
        </div>
      </dl>
      {data.quotaBytes !== null && <meter min={0} max={data.quotaBytes} value={data.usedBytes} high={data.quotaBytes * 0.9} aria-label="Space used of the quota" />}
      <div class="charts">
        <BarChart title="Bytes by kind of file" labels={data.byKind.map((k) => k.kind)} values={data.byKind.map((k) => k.bytes)} />
        <BarChart title="Bytes by month" labels={data.byMonth.map((m) => m.month)} values={data.byMonth.map((m) => m.bytes)} />
      </div>
      <h2>Largest files</h2>
      <Table
        caption="Largest files"
        headings={['File', 'Size', 'Uploader', 'Where']}
        rows={data.largest.map((file) => ({
          key: file.id,
          cells: [
            <a href={file.content} download={file.name}>
              {file.name}
            </a>,
            formatBytes(file.size),
            file.createdBy.display,
            file.issueKey ? <a href={`/ui/issues/${file.issueKey}`}>{file.issueKey}</a> : '—',
          ],
        }))}
      />
      <h2>Top uploaders</h2>
      <Table
        caption="Top uploaders"
        headings={['Uploader', 'Files', 'Bytes']}
        rows={data.uploaders.map((u) => ({ key: u.user.id, cells: [u.user.display, u.files, formatBytes(u.bytes)] }))}
      />
    </section>
  );
}

/** A bar chart on a canvas, with the same figures in a table for screen readers. */
function BarChart({ title, labels, values }: { title: string; labels: string[]; values: number[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const style = getComputedStyle(document.documentElement);
    const accent = style.getPropertyValue('--accent').trim() || '#2f6fed';
    const ink = style.getPropertyValue('--ink-soft').trim() || '#555';
    const chart = new Chart(canvas.current!, {
      type: 'bar',
      data: { labels, datasets: [{ label: title, data: values, backgroundColor: accent }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => formatBytes(Number(item.raw)) } } },
        scales: {
          x: { ticks: { color: ink } },
          y: { beginAtZero: true, ticks: { color: ink, callback: (value) => formatBytes(Number(value)) } },
        },
      },
    });
    return () => chart.destroy();
  }, [title, labels.join(), values.join()]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div class="canvas-box">
        <canvas ref={canvas} role="img" aria-label={`${title}: ${labels.map((l, i) => `${l} ${formatBytes(values[i]!)}`).join(', ')}`} />
      </div>
    </figure>
  );
}

function Table({ caption, headings, rows }: { caption: string; headings: string[]; rows: Array<{ key: string; cells: ComponentChildren[] }> }) {
  return (
    <table>
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          {headings.map((h) => (
            <th key={h} scope="col">
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.key}>
            {row.cells.map((cell, i) => (
              <td key={i}>{cell}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
