// The sample book's own component: its .mdx pages import it as @site/src/components/KeyIdea.
export {default} from '../../../../../sample_book/src/components/KeyIdea';
