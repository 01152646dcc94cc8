export function ComparePage() {
  return <div class="page">Compare (being built)</div>;
}
