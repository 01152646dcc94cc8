export function ExperimentsPage() {
  return <div class="page">Experiments (being built)</div>;
}
