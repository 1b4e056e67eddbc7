// Stands in for `linkify-it` in markdown-it (build alias, js/build.mjs): the chat never turns bare
// URLs into links (linkify: false), so markdown-it's instance of it is never asked anything.
export default class LinkifyIt {
  test(): boolean {
    return false;
  }
  pretest(): boolean {
    return false;
  }
  match(): null {
    return null;
  }
  matchAtStart(): null {
    return null;
  }
}
