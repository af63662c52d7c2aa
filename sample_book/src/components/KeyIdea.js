import React from 'react';

const boxStyle = {
  borderLeft: '4px solid #2e8555',
  background: 'rgba(46, 133, 85, 0.08)',
  borderRadius: '6px',
  padding: '0.75rem 1rem',
  margin: '1.25rem 0',
};

const titleStyle = {
  display: 'block',
  fontWeight: 700,
  marginBottom: '0.35rem',
};

/**
 * A highlighted "key idea" box used in the sample textbook's .mdx pages.
 * Usage: <KeyIdea title="Short title">Body text or Markdown children</KeyIdea>
 */
export default function KeyIdea({title, children}) {
  return (
    <div className="key-idea" style={boxStyle} role="note">
      {title ? <strong style={titleStyle}>{title}</strong> : null}
      <div>{children}</div>
    </div>
  );
}
