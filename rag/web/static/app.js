() => {
  if (window.__ragCitations) return;
  window.__ragCitations = true;
  window.ragSelectSource = (turn, key) => {
    const panel = document.getElementById('sources-panel');
    if (!panel) return false;
    panel.querySelectorAll('section.rag-turn').forEach((s) => {
      const on = s.dataset.turn === String(turn);
      s.hidden = !on;
      s.classList.toggle('rag-active', on);
    });
    const card = document.getElementById(`src-${turn}-${key}`);
    if (!card) return false;
    panel.querySelectorAll('.rag-card.rag-selected').forEach((c) => c.classList.remove('rag-selected'));
    const rest = card.closest('details');
    if (rest) rest.open = true;
    void card.offsetWidth;
    card.classList.add('rag-selected');
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    return true;
  };
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[href^="#src-"]') : null;
    if (!link) return;
    const found = /^#src-(\d+)-(\w+)$/.exec(link.getAttribute('href') || '');
    if (!found) return;
    event.preventDefault();
    event.stopPropagation();
    window.ragSelectSource(found[1], found[2]);
  }, true);
  // Opening "Show full article" scrolls the article box to the highlighted passage.
  document.addEventListener('toggle', (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open || !details.classList.contains('rag-full')) return;
    const box = details.querySelector('.rag-article-text');
    const mark = box && box.querySelector('mark');
    if (box && mark) box.scrollTop = Math.max(0, mark.offsetTop - 48);  // box is position: relative
  }, true);
}
