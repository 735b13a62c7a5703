// Colours of the scene. Tokens use one continuous, colour-blind-safe ramp (viridis) by GLOBAL
// position, so contiguous, zigzag and striped layouts read at a glance. Ranks (in the work matrix
// and the lane swatches) use the Okabe–Ito palette, which stays distinct for the common forms of
// colour blindness; it has 8 entries, so ranks beyond 8 repeat and are told apart by label.

export type Rgb = readonly [number, number, number];

// Viridis (matplotlib), 9 stops at 0, 1/8, …, 1.
const VIRIDIS_BYTES: readonly Rgb[] = [
  [0x44, 0x01, 0x54],
  [0x48, 0x28, 0x78],
  [0x3e, 0x49, 0x89],
  [0x31, 0x68, 0x8e],
  [0x26, 0x82, 0x8e],
  [0x1f, 0x9e, 0x89],
  [0x35, 0xb7, 0x79],
  [0x6e, 0xce, 0x58],
  [0xfd, 0xe7, 0x25],
];
const VIRIDIS: readonly Rgb[] = VIRIDIS_BYTES.map(([r, g, b]) => [r / 255, g / 255, b / 255] as const);

/** Token colour for t = position / seq in [0, 1]. The darkest 12% of viridis is skipped: it vanishes on a dark stage. */
export function tokenColor(t: number): Rgb {
  const u = 0.12 + 0.88 * Math.min(1, Math.max(0, t));
  const x = u * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i] as Rgb;
  const b = VIRIDIS[i + 1] as Rgb;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** Okabe & Ito (2008), "Color Universal Design"; black replaced by a light grey for dark stages. */
export const RANK_PALETTE_HEX = ['#e69f00', '#56b4e9', '#009e73', '#f0e442', '#0072b2', '#d55e00', '#cc79a7', '#bbbbbb'] as const;
const RANK_PALETTE: readonly Rgb[] = RANK_PALETTE_HEX.map(hexToRgb);

export function rankColor(rank: number): Rgb {
  return RANK_PALETTE[((rank % RANK_PALETTE.length) + RANK_PALETTE.length) % RANK_PALETTE.length] as Rgb;
}

export function rankColorHex(rank: number): string {
  return RANK_PALETTE_HEX[((rank % RANK_PALETTE_HEX.length) + RANK_PALETTE_HEX.length) % RANK_PALETTE_HEX.length] as string;
}

export function hexToRgb(hex: string): Rgb {
  const n = Number.parseInt(hex.replace('#', ''), 16);
  return [((n >> 16) & 255) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255];
}

export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

export type Theme = 'dark' | 'light' | 'transparent';

export interface Palette {
  readonly clear: Rgb;
  readonly clearAlpha: number;
  readonly lane: Rgb;
  readonly laneAlt: Rgb;
  readonly group: Rgb;
  readonly empty: Rgb;
  readonly emptyEdge: Rgb;
  readonly highlight: Rgb;
  readonly ink: Rgb;
}

export const PALETTES: Record<Theme, Palette> = {
  dark: {
    clear: hexToRgb('#0b0d12'),
    clearAlpha: 1,
    lane: hexToRgb('#161a24'),
    laneAlt: hexToRgb('#1b2030'),
    group: hexToRgb('#39415a'),
    empty: hexToRgb('#10131b'),
    emptyEdge: hexToRgb('#262c3d'),
    highlight: hexToRgb('#ffffff'),
    ink: hexToRgb('#e6e8ee'),
  },
  light: {
    clear: hexToRgb('#ffffff'),
    clearAlpha: 1,
    lane: hexToRgb('#eef1f6'),
    laneAlt: hexToRgb('#e4e8f0'),
    group: hexToRgb('#9aa3b2'),
    empty: hexToRgb('#fafbfc'),
    emptyEdge: hexToRgb('#c9ced8'),
    highlight: hexToRgb('#111111'),
    ink: hexToRgb('#1a1d24'),
  },
  transparent: {
    clear: hexToRgb('#000000'),
    clearAlpha: 0,
    lane: hexToRgb('#20242f'),
    laneAlt: hexToRgb('#262b38'),
    group: hexToRgb('#59617a'),
    empty: hexToRgb('#151821'),
    emptyEdge: hexToRgb('#2f3648'),
    highlight: hexToRgb('#ffffff'),
    ink: hexToRgb('#e6e8ee'),
  },
};
