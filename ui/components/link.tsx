// An in-app link: a real <a href> (open in a new tab, copy the address), navigating without a reload.

import type { ComponentChildren } from 'preact';
import { onLinkClick } from '../router.js';

export interface LinkProps {
  href: string;
  children: ComponentChildren;
  class?: string;
  title?: string;
  'aria-label'?: string;
  'aria-current'?: 'page';
}

export function Link(props: LinkProps) {
  return <a {...props} onClick={onLinkClick} />;
}
