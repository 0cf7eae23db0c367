// A badge as GitLab and shields.io draw them: a grey label, a coloured value, in one SVG that a
// README shows as an image and a screen reader reads (its <title> and role="img"). Every text is
// escaped: a ref or a project name never becomes markup.

export type BadgeTone = 'good' | 'bad' | 'busy' | 'neutral';

const FILL: Record<BadgeTone, string> = { good: '#2e7d32', bad: '#c62828', busy: '#8a6d00', neutral: '#5f6b7a' };

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Verdana 11px is about 6.5 px a character; shields.io measures, a badge this size need not. */
const widthOf = (text: string) => Math.round(text.length * 6.5) + 12;

export function badgeSvg(label: string, value: string, tone: BadgeTone): string {
  const l = widthOf(label);
  const v = widthOf(value);
  const title = escapeXml(`${label}: ${value}`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${l + v}" height="20" role="img" aria-label="${title}">` +
    `<title>${title}</title>` +
    `<rect width="${l}" height="20" fill="#444d56"/><rect x="${l}" width="${v}" height="20" fill="${FILL[tone]}"/>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">` +
    `<text x="${l / 2}" y="14">${escapeXml(label)}</text><text x="${l + v / 2}" y="14">${escapeXml(value)}</text></g></svg>`
  );
}
