export function RunsPage(props: { experimentId: string }) {
  return <div class="page">Runs of {props.experimentId} (being built)</div>;
}
